"""`workbench keystore fetch-cert|import|inspect` — the seed's browser export and keytool -importcert."""
from __future__ import annotations

import argparse

from workbench.commands.args import seconds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keystore", help="the keystore holding the Exchange server certificate")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = s.add_parser("fetch-cert", help="save the certificate chain the EWS endpoint presents (PEM)")
    fetch.add_argument("url", help="EWS endpoint, e.g. https://mail.example.com/EWS/Exchange.asmx")
    fetch.add_argument("-o", "--output", required=True, metavar="FILE.pem")
    fetch.add_argument("--timeout", type=seconds, default=10.0, help="seconds (default 10)")
    fetch.add_argument("--json", action="store_true")
    fetch.set_defaults(handler=fetch_cert)
    imp = s.add_parser("import", help="add a certificate as a trusted entry (creates a JKS keystore if needed); "
                                      "password from WORKBENCH_KEYSTORE_PASSWORD or a prompt")
    imp.add_argument("cert", metavar="CERT", help="PEM or DER certificate file")
    imp.add_argument("--keystore", metavar="FILE", help="keystore file (default: the keystore_path setting)")
    imp.add_argument("--alias", required=True, metavar="NAME")
    imp.add_argument("--replace", action="store_true", help="overwrite an existing entry with that alias")
    imp.add_argument("--chain", action="store_true",
                     help="import every certificate of the file (NAME, NAME-2, ...), not only the first")
    imp.set_defaults(handler=import_cert)
    ins = s.add_parser("inspect", help="every entry: type, subject, issuer, validity, fingerprint, warnings")
    ins.add_argument("file", nargs="?", metavar="FILE", help="keystore file (default: the keystore_path setting)")
    ins.add_argument("--json", action="store_true")
    ins.set_defaults(handler=inspect)


def _print_cert(prefix: str, info) -> None:
    print(f"{prefix}subject:  {info.subject}")
    print(f"{' ' * len(prefix)}issuer:   {info.issuer}")
    print(f"{' ' * len(prefix)}valid:    {info.not_before:%Y-%m-%d %H:%M} .. {info.not_after:%Y-%m-%d %H:%M} UTC")
    print(f"{' ' * len(prefix)}SHA-256:  {info.sha256}")
    if info.names:
        print(f"{' ' * len(prefix)}names:    {', '.join(info.names)}")


def fetch_cert(args) -> int:
    from workbench import keystore_service
    from workbench.commands.output import note, print_json
    from workbench.errors import WorkbenchError
    from workbench.exchange import keystore as ks
    from workbench.settings import RuleBroken, excerpt, parse_url
    try:
        url = parse_url(args.url)
    except RuleBroken as exc:
        raise WorkbenchError("USAGE", f"url={excerpt(args.url)} refused: must be {exc}") from None
    fetched = keystore_service.fetch(url, timeout=args.timeout)
    certs, infos = fetched.certs, fetched.infos
    path = ks.save_pem(certs, args.output)
    if args.json:
        print_json({"file": str(path), "certificates": [i.as_dict() for i in infos]})
        return 0
    print(f"saved {len(certs)} certificate{'s' * (len(certs) != 1)} presented by {args.url} to {path}")
    for number, info in enumerate(infos, start=1):
        _print_cert(f"  [{number}] ", info)
        if info.expired():
            print("      ! EXPIRED")
    note("Check the SHA-256 fingerprint with your Exchange admin before you import it.")
    return 0


def import_cert(args) -> int:
    from workbench import keystore_service
    from workbench.commands.output import note
    from workbench.store import Store
    store = Store()
    result = keystore_service.import_file(args.cert, keystore_service.resolve_path(store, args.keystore), args.alias,
                                          replace=args.replace, chain=args.chain)
    print(f"{'created' if result.created else 'updated'} {result.path} (JKS)")
    for alias, info in result.imported:
        verb = "replaced" if alias in result.replaced else "added"
        print(f"  {verb} trustedCertEntry {alias!r}: {info.subject}")
        print(f"    SHA-256 {info.sha256}, valid until {info.not_after:%Y-%m-%d}")
    for warning in result.warnings():
        note(f"warning: {warning}")
    if not keystore_service.is_configured(store, result.path):
        print(f"next: workbench settings set keystore_path={result.path}")
    return 0


def inspect(args) -> int:
    from workbench import keystore_service
    from workbench.commands.output import print_json
    from workbench.store import Store
    report = keystore_service.inspect(Store(), args.file).report
    if args.json:
        print_json(report.as_dict())
        return 0
    print(f"{report.path}: {report.store_type.upper()}, {len(report.entries)} entr{'y' if len(report.entries) == 1 else 'ies'}")
    for entry in report.entries:
        print(f"- {entry.alias}  ({entry.kind})")
        for info in entry.certs:
            _print_cert("    ", info)
        for warning in entry.warnings:
            print(f"    ! {warning}")
    for warning in report.warnings:
        print(f"! {warning}")
    return 0
