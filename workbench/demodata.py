"""Deterministic demo data: operators.csv, contacts.csv and the sandbox's exchange_seed.json.

    python -m workbench.demodata --operators 24 --contacts 2000 --out data/

The data is realistic and varied on purpose: unicode names, missing phones, two
contacts sharing an e-mail, private flags, long company names, and three
problem operators (no mailbox, an alias e-mail, impersonation denied) that
verification must find.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import unicodedata
from pathlib import Path

DOMAIN = "example.com"
CATEGORY = "PegaSASync"
GIVEN = ["Anna", "José", "Zoë", "Łukasz", "Mei", "Oluwaseun", "Søren", "Chloé", "Raj", "Fatima", "Jürgen",
         "Siobhán", "Hiroshi", "Ana-María", "Dmitri", "Aoife", "Nguyễn Văn", "Björn", "Émilie", "Kwame",
         "Leïla", "Tomás", "Ingrid", "Yusuf", "Priya", "Marek", "Camille", "Mateo", "Elif", "Noah"]
SURNAMES = ["Müller", "O'Brien", "García", "Kowalski", "Chen", "Adeyemi", "Østergaard", "Dubois", "Patel",
            "Al-Sayed", "Schröder", "Ní Bhriain", "Tanaka", "López de la Vega", "Ivanov", "Murphy", "Trần",
            "Lindqvist", "Lefèvre", "Mensah", "Haddad", "Fernández", "Berg", "Yılmaz", "Sharma", "Nowak",
            "Martin", "Rossi", "Demir", "van der Berg"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Logistics", "Stark Industries", "Wayne Enterprises",
             "Société Générale de Distribution Électrique et de Services Associés du Grand Sud-Ouest",
             "Müller & Söhne GmbH", "Nakatomi Trading", "Hooli", "Vandelay Industries",
             "The Very Long Name International Holding Company for Cross-Border Procurement Ltd.",
             "Cyberdyne Systems", "Oceanic Airlines", "Tyrell Corporation", ""]
TITLES = ["Buyer", "Head of Procurement", "CFO", "Sales Manager", "Account Executive", "CTO",
          "Operations Lead", "Chief Executive Officer", "Office Manager", "", "Purchasing Agent"]
CITIES = [("Berlin", "", "10115", "Germany"), ("Paris", "", "75001", "France"),
          ("Boston", "MA", "02108", "United States"), ("Kraków", "", "30-001", "Poland"),
          ("Tokyo", "", "100-0001", "Japan"), ("Lagos", "", "100001", "Nigeria"),
          ("São Paulo", "SP", "01000-000", "Brazil"), ("Dublin", "", "D01", "Ireland")]
STREETS = ["Hauptstraße 5", "12 Rue de Rivoli", "1 Beacon St", "ul. Floriańska 3", "2-1 Marunouchi",
           "7 Marina Rd", "Av. Paulista 1000", "5 O'Connell St"]


_TRANSLIT = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "ß": "ss", "Đ": "D", "đ": "d", "ı": "i"})


def ascii_slug(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(ch for ch in norm if ch.isascii() and (ch.isalnum() or ch in "-")).lower() or "x"


def make_operators(n: int, rng: random.Random) -> list[dict]:
    ops = []
    for i in range(1, n + 1):
        given, surname = GIVEN[i % len(GIVEN)], SURNAMES[(i * 7) % len(SURNAMES)]
        email = f"{ascii_slug(given)}.{ascii_slug(surname)}{i}@{DOMAIN}"
        ops.append({"operator_id": f"OP-{i:03d}", "name": f"{given} {surname}", "email": email,
                    "contact_sync": "true" if i % 6 != 0 else "false", "mailbox": email,
                    "aliases": [], "impersonation_denied": False})
    # The seeded problems verification must find (all with contact sync on).
    ops[0]["email"] = ops[0]["email"].replace("@", ".old@")          # an alias of the mailbox
    ops[0]["aliases"] = [ops[0]["email"]]
    ops[1]["mailbox"] = None                                           # no mailbox at all
    ops[1]["email"] = f"departed.user2@{DOMAIN}"
    ops[2]["impersonation_denied"] = True                              # impersonation refused
    return ops


def make_contacts(m: int, ops: list[dict], rng: random.Random) -> list[dict]:
    enabled = [o["operator_id"] for o in ops if o["contact_sync"] == "true"]
    contacts = []
    for i in range(1, m + 1):
        given, surname = rng.choice(GIVEN), rng.choice(SURNAMES)
        city, state, postal, country = rng.choice(CITIES)
        company = rng.choice(COMPANIES)
        team = rng.sample(enabled, k=rng.choice([1, 1, 1, 2, 2, 3]))
        if rng.random() < 0.05:
            team.append(rng.choice([o["operator_id"] for o in ops]))
        contacts.append({
            "contact_id": f"CRM-{i:06d}", "given_name": given, "surname": surname,
            "email": f"{ascii_slug(given)}.{ascii_slug(surname)}.{i}@{ascii_slug(company)[:20].strip('-') or 'mail'}.test"
                     if rng.random() > 0.03 else "",
            "business_phone": f"+49 30 {rng.randint(1000000, 9999999)}" if rng.random() > 0.2 else "",
            "mobile_phone": f"+1 617 555 {rng.randint(1000, 9999)}" if rng.random() > 0.5 else "",
            "home_phone": "",
            "company": company, "job_title": rng.choice(TITLES),
            "street": rng.choice(STREETS), "city": city, "state": state, "postal_code": postal, "country": country,
            "private": "true" if rng.random() < 0.05 else "false",
            "team": ";".join(dict.fromkeys(team)),
            "updated_at": f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00",
        })
    # Two contacts sharing one e-mail address (first-sync dedup must report, not guess).
    contacts[-1]["email"] = contacts[-2]["email"] = f"shared.inbox@{DOMAIN}"
    contacts[-1]["team"] = contacts[-2]["team"] = enabled[3]
    return contacts


def _exchange_contact(c: dict, *, category: bool, private: bool = False) -> dict:
    return {"given_name": c["given_name"], "surname": c["surname"],
            "display_name": f"{c['given_name']} {c['surname']}", "email": c["email"] or None,
            "business_phone": c["business_phone"] or None, "mobile_phone": c["mobile_phone"] or None,
            "company_name": c["company"] or None, "job_title": c["job_title"] or None,
            "street": c["street"], "city": c["city"], "state": c["state"] or None,
            "postal_code": c["postal_code"], "country": c["country"],
            "categories": [CATEGORY] if category else [], "private": private}


def make_exchange_seed(ops: list[dict], contacts: list[dict], rng: random.Random) -> dict:
    by_op: dict[str, list[dict]] = {}
    for c in contacts:
        for op in c["team"].split(";"):
            by_op.setdefault(op, []).append(c)
    mailboxes = []
    for op in ops:
        if op["mailbox"] is None:
            continue
        items = []
        team = [c for c in by_op.get(op["operator_id"], []) if c["email"] and c["email"] != f"shared.inbox@{DOMAIN}"]
        for c in rng.sample(team, k=min(len(team), max(1, len(team) // 10))):   # already in Outlook: e-mail match
            ex = _exchange_contact(c, category=True)
            if rng.random() < 0.5:
                ex["job_title"] = "Outlook-edited title"
            items.append(ex)
        for _ in range(rng.randint(3, 6)):                                     # Outlook-only, categorised
            fake = rng.choice(contacts)
            items.append(_exchange_contact({**fake, "email": f"outlook.{rng.randint(1, 10**9)}@partner.test"},
                                           category=True))
        for _ in range(rng.randint(2, 4)):                                     # personal, no category
            fake = rng.choice(contacts)
            items.append(_exchange_contact({**fake, "email": f"personal.{rng.randint(1, 10**9)}@home.test"},
                                           category=False))
        fake = rng.choice(contacts)                                            # private, categorised
        items.append(_exchange_contact({**fake, "email": f"private.{rng.randint(1, 10**9)}@home.test"},
                                       category=True, private=True))
        mailboxes.append({"primary_address": op["mailbox"], "aliases": op["aliases"],
                          "impersonation_denied": op["impersonation_denied"], "contacts": items})
    return {"domain": DOMAIN, "mailboxes": mailboxes}


def generate(out: Path, operators: int = 24, contacts: int = 2000, seed: int = 7) -> None:
    rng = random.Random(seed)
    ops = make_operators(operators, rng)
    people = make_contacts(contacts, ops, rng)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "operators.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["operator_id", "name", "email", "contact_sync"], extrasaction="ignore")
        w.writeheader()
        w.writerows(ops)
    with open(out / "contacts.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(people[0]))
        w.writeheader()
        w.writerows(people)
    seed_data = make_exchange_seed(ops, people, rng)
    (out / "exchange_seed.json").write_text(json.dumps(seed_data, indent=1, ensure_ascii=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operators", type=int, default=24)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    if args.operators < 6 or args.contacts < 10:
        parser.error("--operators must be at least 6 and --contacts at least 10")
    generate(args.out, args.operators, args.contacts, args.seed)
    print(f"wrote {args.out}/operators.csv, contacts.csv, exchange_seed.json")


if __name__ == "__main__":
    main()
