"""Exchange server generations: what each ``exchange_version`` sends, which build it expects, its support.

=============  =====================  ==========================================  ===================
setting        RequestServerVersion   ServerVersionInfo expected (Major.Minor)    support ends
=============  =====================  ==========================================  ===================
Exchange2010   Exchange2010           14.x (e.g. 14.3.123.4, Version Exchange2010_SP2)   2020-10-13
Exchange2013   Exchange2013           15.0.x (e.g. 15.0.1497.2, CU23)                    2023-04-11
Exchange2016   Exchange2016           15.1.x (e.g. 15.1.2507.6, CU23)                    2025-10-14
Exchange2019   Exchange2016           15.2.x below 15.2.2562 (e.g. 15.2.1748.10, CU15)    2025-10-14
ExchangeSE     Exchange2016           15.2.2562 or later (RTM 15.2.2562.17)              supported
=============  =====================  ==========================================  ===================

Exchange 2019 and Subscription Edition define no RequestServerVersion of their own: ``ExchangeVersionType``
ends with Exchange2016 and the V2016_* dates, and both answer Exchange2016 requests. They are told apart
by the build in ServerVersionInfo (MajorVersion 15, MinorVersion 2, MajorBuildNumber 2562 and later is SE).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from exchangelib.version import Build

SE_FIRST_BUILD = 2562          # Exchange Server SE RTM is 15.2.2562.17 (July 2025)


@dataclass(frozen=True)
class Generation:
    setting: str                # the exchange_version value
    product: str                # what an ops person calls it
    request_version: str        # RequestServerVersion sent
    pinned: Build               # the build assumed before the server's first answer
    support_ends: dt.date | None


GENERATIONS: dict[str, Generation] = {g.setting: g for g in (
    Generation("Exchange2010", "Exchange Server 2010", "Exchange2010", Build(14, 0), dt.date(2020, 10, 13)),
    Generation("Exchange2013", "Exchange Server 2013", "Exchange2013", Build(15, 0), dt.date(2023, 4, 11)),
    Generation("Exchange2016", "Exchange Server 2016", "Exchange2016", Build(15, 1), dt.date(2025, 10, 14)),
    Generation("Exchange2019", "Exchange Server 2019", "Exchange2016", Build(15, 2), dt.date(2025, 10, 14)),
    Generation("ExchangeSE", "Exchange Server Subscription Edition", "Exchange2016",
               Build(15, 2, SE_FIRST_BUILD), None),
)}


def generation_of(build: Build | None) -> Generation | None:
    """The generation a ServerVersionInfo build belongs to (None: unknown, e.g. Exchange Online's 15.20)."""
    if build is None:
        return None
    if build.major_version == 14:
        return GENERATIONS["Exchange2010"]
    if build.major_version != 15:
        return None
    if build.minor_version == 2:
        return GENERATIONS["ExchangeSE" if build.major_build >= SE_FIRST_BUILD else "Exchange2019"]
    return {0: GENERATIONS["Exchange2013"], 1: GENERATIONS["Exchange2016"]}.get(build.minor_version)


def out_of_support(generation: Generation, today: dt.date) -> bool:
    return generation.support_ends is not None and today > generation.support_ends
