"""One error family and the failure catalogue.

Every failure the workbench reports has a stable code with a title, the likely
cause and the remedy. The CLI prints ``CODE: title — remedy``; the dashboard,
the journal and failure e-mails use the same entries.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    code: str
    title: str
    cause: str
    remedy: str
    exit_code: int = 1          # 2 = bad input or usage, 1 = the operation failed
    transient: bool = False     # retried until the mailbox deadline


CATALOGUE: dict[str, Failure] = {}


def _entry(code: str, title: str, cause: str, remedy: str, *, exit_code: int = 1,
           transient: bool = False) -> None:
    CATALOGUE[code] = Failure(code, title, cause, remedy, exit_code, transient)


# --- input and local state ---------------------------------------------------
_entry("USAGE", "Bad command line", "An option or argument is missing or malformed.",
       "Run the command with --help to see its usage.", exit_code=2)
_entry("SETTING_INVALID", "Setting value refused",
       "A value does not meet the rule for its setting.",
       "Correct the value named in the message; `workbench settings show` lists every rule.",
       exit_code=2)
_entry("SETTINGS_INCOMPLETE", "Settings incomplete or inconsistent",
       "A required setting is empty, or settings contradict each other.",
       "Run `workbench settings check` and set each value it names.", exit_code=2)
_entry("STORE_BUSY", "Store is locked by another process",
       "Another workbench process (dashboard, notebook, agent, CLI) kept the DuckDB file "
       "open longer than the lock timeout.",
       "Wait for that process to finish its operation or stop it, then retry; "
       "raise WORKBENCH_LOCK_TIMEOUT for slow disks.")
_entry("STORE_UNREADABLE", "Store file cannot be opened",
       "The file cannot be opened (no permission, a directory) or is from a newer workbench or DuckDB; "
       "a damaged file is STORE_CORRUPT.",
       "Point --store / WORKBENCH_STORE at the right file, fix its permissions, or use the newer workbench.",
       exit_code=2)    # the path the user gave (--store / WORKBENCH_STORE) is not a usable store
_entry("FILE_NOT_FOUND", "File not found", "A path given on the command line does not exist.",
       "Check the path and try again.", exit_code=2)
_entry("CSV_INVALID", "CSV file refused",
       "The file is not a readable CSV, or rows break the import rules.",
       "Fix what is listed (line, column, reason); for bad rows, --skip-invalid imports only the valid ones.",
       exit_code=2)
# --- hostile files: CSV input bounds, output paths (issue 19) ------------------
_entry("FILE_UNWRITABLE", "Output file cannot be written",
       "The output path is a directory, its folder does not exist or is not writable, or the disk refused "
       "the write.",
       "Give a file path in an existing, writable folder (with free space) and rerun.", exit_code=2)
_entry("SECRET_MISSING", "Password not available",
       "The password is neither in its environment variable, the OS keyring nor typed at a prompt.",
       "Set WORKBENCH_EWS_PASSWORD / WORKBENCH_KEYSTORE_PASSWORD, or run where you can be asked (a terminal, "
       "a notebook in Jupyter, the dashboard).",
       exit_code=2)
_entry("OPERATOR_SYNC_OFF", "Contact sync is off for this operator",
       "The operator's contact_sync flag is false, so none of their contacts are synced.",
       "Run `workbench operators enable ID`, or import a CSV with contact_sync=true for them.")
_entry("OPERATOR_NOT_FOUND", "No such operator",
       "An operator id given is not in the store.",
       "Check `workbench operators list`; import the operator first.", exit_code=2)

# --- store files, full disks, backups, keystore paths (issue 19: files and faults) ---
_entry("STORE_CORRUPT", "Store file damaged",
       "The DuckDB file fails its checksums, is truncated, or is not a DuckDB database at all. "
       "The workbench refuses it: it is never read as an empty store, migrated or overwritten.",
       "Run `workbench store check` to see what is damaged, then `workbench store restore BACKUP` "
       "from your last `workbench store backup` (the damaged file is kept aside).")
_entry("DISK_FULL", "Disk full: nothing was written",
       "The file system ran out of space during a write; the transaction was rolled back and the "
       "file is as it was before the command.",
       "Free the space the message names on that file system (or move the file to a larger one) "
       "and run the command again.")
_entry("BACKUP_CORRUPT", "Backup file refused",
       "The file given to `workbench store restore` fails `workbench store check` (damaged, truncated, "
       "not a DuckDB store, or from a newer workbench).",
       "Pick another backup; the current store was not touched.", exit_code=2)
_entry("BACKUP_EXISTS", "Backup file already exists",
       "`workbench store backup FILE` never overwrites a file.",
       "Give a new file name, or move the old backup away first.", exit_code=2)
_entry("KEYSTORE_PATH_INVALID", "Keystore path is not a usable file",
       "The keystore path is a directory, runs through a file as if it were a directory, is a loop of "
       "symbolic links, or cannot be read.",
       "Give the path of the keystore file itself in --keystore or keystore_path "
       "(e.g. `workbench settings set keystore_path=/etc/workbench/exchange.jks`).", exit_code=2)

# --- keystore and TLS ---------------------------------------------------------
_entry("KEYSTORE_MISSING", "Keystore file not found",
       "keystore_path points to a file that does not exist.",
       "Create it: `workbench keystore fetch-cert URL -o server.pem` then "
       "`workbench keystore import server.pem --keystore FILE --alias exchange`.", exit_code=2)
_entry("KEYSTORE_PASSWORD", "Keystore password wrong",
       "The keystore's integrity check failed: the password does not match.",
       "Set WORKBENCH_KEYSTORE_PASSWORD to the password used when the keystore was created.",
       exit_code=2)
_entry("KEYSTORE_CORRUPT", "Keystore damaged or not a keystore",
       "The file is truncated, damaged, or of a format other than JKS or PKCS12.",
       "Recreate it with `workbench keystore import`, or convert it with keytool -importkeystore.",
       exit_code=2)
_entry("KEYSTORE_ALIAS_EXISTS", "Alias already in keystore",
       "The keystore already has an entry under that alias.",
       "Choose another --alias, or pass --replace to overwrite it.", exit_code=2)
_entry("KEYSTORE_EMPTY", "Keystore holds no trusted certificate",
       "The keystore opens, but has no trusted-certificate entry to verify the Exchange server with.",
       "Add the server certificate: `workbench keystore fetch-cert URL -o server.pem` then "
       "`workbench keystore import server.pem --keystore FILE --alias exchange`.", exit_code=2)
_entry("KEYSTORE_READ_ONLY", "Keystore cannot be changed by the workbench",
       "The workbench writes JKS keystores only; this one is PKCS12 or JCEKS, or holds a private key "
       "protected by a password other than the store password.",
       "Add the certificate with `keytool -importcert -file server.pem -keystore FILE -alias exchange`, "
       "or import into a new JKS file with `workbench keystore import`.", exit_code=2)
_entry("KEYSTORE_PASSWORD_SHORT", "Keystore password too short",
       "A new keystore needs a password of at least 6 characters (keytool refuses shorter ones).",
       "Set WORKBENCH_KEYSTORE_PASSWORD to a password of 6 or more characters.", exit_code=2)
_entry("CERT_FILE_INVALID", "Certificate file unreadable",
       "The file holds no PEM or DER X.509 certificate.",
       "Save the certificate as Base-64 encoded X.509 (PEM), e.g. with `workbench keystore fetch-cert`.",
       exit_code=2)
_entry("TLS_UNTRUSTED", "Exchange server certificate not trusted",
       "The certificate the server presents is not signed by any certificate in the keystore.",
       "Fetch it with `workbench keystore fetch-cert URL -o server.pem`, check its fingerprint "
       "with your Exchange admin, then `workbench keystore import server.pem --keystore FILE --alias exchange`.")
_entry("TLS_EXPIRED", "Exchange server certificate expired",
       "The certificate presented by the server (or held in the keystore) is past its validity.",
       "Ask the Exchange admin to renew the server certificate, then fetch and import it again.")
_entry("TLS_HOSTNAME", "Server certificate does not name the host",
       "The certificate the server presents is trusted, but is issued for another host name than "
       "the one in exchange_url.",
       "Use the host name the certificate names in exchange_url (see `workbench keystore fetch-cert`), "
       "or ask the Exchange admin for a certificate that covers this name.")
_entry("TLS_FAILED", "TLS handshake failed",
       "The TLS connection could not be set up (protocol or cipher mismatch, wrong port).",
       "Check exchange_url points at the HTTPS EWS endpoint and the port speaks TLS.")

# --- Exchange -----------------------------------------------------------------
_entry("EWS_UNREACHABLE", "Exchange endpoint unreachable",
       "No connection to the host and port of exchange_url (DNS, firewall, server down).",
       "Check exchange_url, DNS and firewalls; try opening the URL from this machine.",
       transient=True)
_entry("EWS_TIMEOUT", "Exchange did not answer in time",
       "The request timed out or the connection dropped mid-request.",
       "Usually transient; if it persists check the server load and network path.", transient=True)
_entry("EWS_SERVER_ERROR", "Exchange server error",
       "Exchange answered with an HTTP 5xx or an internal error.",
       "Usually transient; the sync retries until the notification frequency deadline.",
       transient=True)
_entry("EWS_THROTTLED", "Exchange is throttling requests",
       "Exchange answered ErrorServerBusy with a back-off hint (EWS throttling policy).",
       "The workbench waits as told and retries; lower batch_size or max_concurrent_mailboxes "
       "or ask for a throttling policy for the service account.", transient=True)
_entry("EWS_AUTH_REJECTED", "Credentials rejected",
       "Exchange refused the impersonation account's user name or password (HTTP 401, NTLM).",
       "Check impersonation_account and WORKBENCH_EWS_PASSWORD with the Exchange admin.")
_entry("EWS_IMPERSONATION_DENIED", "Impersonation denied",
       "The service account lacks the ApplicationImpersonation role for this mailbox.",
       "Ask the Exchange admin to grant ApplicationImpersonation to the service account "
       "(New-ManagementRoleAssignment) with a scope that includes this mailbox.")
_entry("EWS_MAILBOX_NOT_FOUND", "Mailbox not found",
       "No Exchange mailbox has the operator's e-mail address.",
       "Correct the operator's e-mail to their Exchange address, or disable contact sync for them.")
_entry("EWS_EMAIL_MISMATCH", "Operator e-mail is not the mailbox's primary address",
       "The e-mail resolves to a mailbox whose primary SMTP address differs (an alias).",
       "Update the operator's e-mail to the mailbox's primary address (the Operators screen's Verification "
       "column shows 'mismatch: use <address>'; `workbench operators verify` prints it), so sync and audit agree.")
_entry("EWS_VERSION_MISMATCH", "Server version differs from the setting",
       "The server reports an Exchange version other than exchange_version.",
       "Set exchange_version to the version the server reports.")
_entry("EWS_VERSION_UNSUPPORTED", "Exchange version not supported",
       "The server does not speak the requested EWS version.",
       "Set exchange_version to the server's generation (Exchange2010, Exchange2013, Exchange2016, "
       "Exchange2019 or ExchangeSE).")
_entry("EWS_ITEM_REJECTED", "Exchange rejected an item",
       "Exchange refused to save, update or delete one contact (per-item error).",
       "See the journal entry for the item and the Exchange message; fix the contact data and rerun.")
_entry("EWS_CONFLICT", "Item changed in Exchange meanwhile",
       "The item's change key is stale: someone edited it after the plan was made.",
       "Rerun the sync: a new plan sees the current version.", transient=True)
_entry("EWS_PROTOCOL", "Unexpected answer from Exchange",
       "Exchange sent something the workbench could not interpret.",
       "Check exchange_url points at /EWS/Exchange.asmx; report the journal entry if it persists.")
_entry("SUBSCRIPTION_LAPSED", "Push subscription lapsed",
       "No notification or status ping arrived for more than twice the notification frequency.",
       "The agent re-creates it; if it recurs check that notification_url is reachable from Exchange.")
_entry("LISTENER_UNREACHABLE", "Notification listener unreachable",
       "Nothing listens at notification_url, or Exchange cannot reach it.",
       "Start `workbench agent`; publish notification_url through the VPN or DMZ proxy.")

# --- sync -----------------------------------------------------------------------
_entry("CRM_VALIDATION", "CRM rejected a contact",
       "A contact coming from Exchange fails a CRM rule (e.g. no name, malformed e-mail).",
       "Fix the contact in Outlook; the next sync picks it up.")
_entry("SKIPPED_PRIVATE", "Private contact skipped",
       "The Exchange contact is marked private; include_private is off.",
       "Nothing to do, or set include_private=true to sync private contacts.")
_entry("SKIPPED_NO_CATEGORY", "Contact without the sync category skipped",
       "The Exchange contact does not carry sync_category.",
       "Add the category in Outlook (or with a rule) to sync it.")
_entry("AMBIGUOUS_MATCH", "Ambiguous e-mail match",
       "Several contacts on one side share the e-mail address; the workbench never guesses.",
       "Merge the duplicates or give them distinct e-mail addresses, then rerun.")
_entry("CONFLICT_MANUAL", "Conflict waits for a person",
       "Both sides changed since the last sync and conflict_policy is manual.",
       "Edit one side to the wanted value, or set conflict_policy to crm-wins / exchange-wins.")
_entry("MASS_DELETE", "Mass deletion refused",
       "The plan would delete or unlink more than the allowed share of a mailbox's links.",
       "Check the preview; if it is intended rerun with --allow-mass-delete.")
_entry("SYNC_DEADLINE", "Sync cancelled at the deadline",
       "Transient failures went on longer than notification_frequency_minutes for this mailbox.",
       "See the failure e-mail and the journal; the next slot retries from where it stopped.")
_entry("SYNC_CANCELLED", "Sync cancelled", "The run was cancelled by a person.",
       "Run it again when ready; nothing done is lost.")
# --- run supervision (no hang: issue 19) --------------------------------------------
_entry("SYNC_WORKER_STUCK", "Mailbox worker stuck; abandoned",
       "The worker for this mailbox was still busy well past the mailbox deadline: a request or the "
       "library below it stopped answering where no deadline check runs.",
       "Nothing to undo: the next run recovers what was sent (CRM-id property). If it repeats, check the "
       "Exchange server's health and `workbench log --failed` for the last request.")
_entry("SYNC_DIED", "Sync process died",
       "The process running this sync ended without finishing it (killed, crashed, or the machine stopped).",
       "Run the sync again: it resumes without duplicates (the CRM-id property finds what was written).")
_entry("SKIPPED_DIRECTION", "Change not synced in this direction",
       "sync_direction lets changes flow one way only; this change goes the other way.",
       "Nothing to do, or set sync_direction=two-way to sync it.")
_entry("PLAN_STALE", "Changed since the preview",
       "The contact changed in Exchange or the CRM (or the operator's sync was switched) after the plan was "
       "made; applying the previewed action would overwrite the newer edit, so it was left alone.",
       "Preview again and apply the new plan, or run the sync: a new plan sees both edits.")
_entry("SYNC_DISABLED", "Contact sync is switched off",
       "The master switch contact_integration is false.",
       "Run `workbench settings set contact_integration=true` when the settings are complete.", exit_code=2)


# --- Exchange server generations (issue 12: 2019, SE, support status) ---------------
_entry("EWS_VERSION_OUT_OF_SUPPORT", "Exchange version out of support",
       "The server is an Exchange Server generation Microsoft no longer supports (no security updates): "
       "2010, 2013, and since 2025-10-14 also 2016 and 2019.",
       "Plan the move to Exchange Server Subscription Edition (SE); then set exchange_version=ExchangeSE. "
       "Sync keeps working meanwhile.")


# --- transport classification (issue 19: handshake cut, a URL that is not EWS) ------------
_entry("TLS_HANDSHAKE_CUT", "Connection cut during the TLS handshake",
       "The server or a device on the path (load balancer, firewall, proxy) closed or reset the TCP "
       "connection before the TLS handshake finished: usually a restart, an overload or an idle-connection "
       "limit, not a certificate problem.",
       "Usually transient; the sync retries until the mailbox deadline. If it persists check that exchange_url's "
       "port speaks TLS and ask the network team whether a device on the path drops the connections.",
       transient=True)
_entry("EWS_NOT_EXCHANGE", "The URL does not answer as Exchange Web Services",
       "The server at exchange_url answered with a web page (HTML, or no SOAP/XML at all) instead of an EWS "
       "SOAP message: a web server, reverse proxy or portal, not Exchange.",
       "Check that exchange_url ends in /EWS/Exchange.asmx and points at the Exchange server (or its published "
       "EWS endpoint), not at a proxy's or portal's page; open the URL in a browser to see who answers.")
# --- contacts: find, show, export; sync undo (issue 17) --------------------------
_entry("CONTACT_QUERY_INVALID", "Contact search text refused",
       "The search text is empty, only blanks, or longer than the limit.",
       "Give a name, e-mail, company, phone, CRM id or Exchange item id (1 to 200 characters).", exit_code=2)
_entry("CONTACT_NOT_FOUND", "No such contact",
       "No CRM contact has that id.",
       "Find the id with `workbench contacts find TEXT` and rerun.", exit_code=2)
_entry("RUN_NOT_FOUND", "No such sync run",
       "No sync run has that id (or it was a dry run, which changes nothing).",
       "See the runs with `workbench log --all` and rerun with one of their ids.", exit_code=2)
_entry("UNDO_FAILED", "Some deleted contacts could not be restored",
       "Exchange refused to move back or recreate some contacts (named in the message); what was restored is "
       "booked and journaled.",
       "Fix the cause named per contact and rerun `workbench sync undo`: restored contacts are not touched again.")

# --- plan lifecycle (issue 16: the dashboard tells the truth) -------------------------------
_entry("PLAN_APPLIED", "This plan was applied already",
       "A previewed plan is applied once; applying it again would only journal every write as changed since "
       "the preview.",
       "Preview again (p on the Preview screen, or preview() in a notebook) and apply the new plan.", exit_code=2)
_entry("EWS_MAILBOX_FULL", "Mailbox over its quota",
       "Exchange refused the write because the operator's mailbox is over its storage quota "
       "(ErrorQuotaExceeded); the contact data is fine.",
       "Ask the Exchange admin to raise the mailbox's quota, or the operator to free space (empty Deleted "
       "Items); then rerun the sync.")
_entry("PLAN_SUPERSEDED", "This plan is out of date",
       "Another run wrote to its mailboxes after the preview was taken, so the plan no longer describes them.",
       "Preview again (p on the Preview screen, or preview() in a notebook) and apply the new plan.", exit_code=2)

# --- the living demo: its world, its Exchange, its secrets file (issue 15) ------------
_entry("DEMO_NOT_FOUND", "No demo in this directory",
       "The --dir given holds no demo world (demo.json) to bring back.",
       "Run `workbench demo --dir DIR` (or `make demo`) first.", exit_code=2)
_entry("DEMO_INCOMPLETE", "The demo directory is not a complete demo",
       "A file the demo keeps (store, keystore, sandbox state, secrets file) is missing or from an older "
       "workbench, so the same world cannot be reopened.",
       "Rebuild it with `workbench demo --fresh --dir DIR`; everything the old demo wrote is lost.", exit_code=2)
_entry("DEMO_PORT_BUSY", "The demo Exchange's port is taken",
       "Another program listens on the port the demo Exchange keeps (another `workbench demo --serve`, or an "
       "unrelated program).",
       "Stop that program (a running `workbench demo --serve` is named in the message), or rebuild the demo "
       "with --fresh to get a new port.")
_entry("DEMO_SECRETS_REFUSED", "Demo secrets file refused",
       "A demo-secrets.json beside the store is readable by others, not yours, not marked as the demo's, or "
       "names another store: demo passwords are only ever used for the demo store they were made for.",
       "Delete that file (the real store's passwords come from the environment, the keyring or a prompt), or "
       "rebuild the demo with `workbench demo --fresh`.", exit_code=2)


# --- Microsoft Graph backend (issue 14) -------------------------------------------------
_entry("GRAPH_AUTH_REJECTED", "Graph app credentials rejected",
       "The identity platform refused the app: unknown client id or tenant, a wrong client secret, or a "
       "certificate it does not know (AADSTS700016, 7000215, 700027, 90002).",
       "Check graph_tenant_id and graph_client_id against the app registration in Entra ID; upload the "
       "certificate in graph_certificate_path to the app, or set WORKBENCH_GRAPH_CLIENT_SECRET to a current "
       "secret value (not the secret id).")
_entry("GRAPH_CERT_EXPIRED", "Graph app certificate expired",
       "The certificate the app signs its token request with is outside its validity period (AADSTS700027 "
       "'The key used is expired').",
       "Create a new certificate, upload its public part to the app registration in Entra ID and point "
       "graph_certificate_path at the new PEM (private key and certificate).")
_entry("GRAPH_CONSENT_MISSING", "Graph application permission not granted",
       "The app's token does not hold the application role the request needs (Contacts.ReadWrite for "
       "contacts, Mail.Send for the failure e-mail): admin consent was never granted or was revoked.",
       "In Entra ID > App registrations > API permissions add the Microsoft Graph application permissions "
       "Contacts.ReadWrite and Mail.Send and grant admin consent (or grant them per mailbox with RBAC for "
       "Applications).")
_entry("GRAPH_SCOPE_DENIED", "Mailbox outside the app's RBAC scope",
       "Exchange Online refused the app for this mailbox (ErrorAccessDenied: 'Access to OData is disabled'): "
       "the mailbox is outside the management scope of the app's role assignment.",
       "Add the mailbox to the scope: New-ManagementRoleAssignment -App <service principal id> -Role "
       '"Application Contacts.ReadWrite" -CustomResourceScope <scope name> (and "Application Mail.Send" for '
       "the service mailbox); then remove the tenant-wide consent of Contacts.ReadWrite in Entra ID so the "
       "scope is what limits the app.")
_entry("GRAPH_THROTTLED", "Microsoft Graph is throttling requests",
       "Graph answered 429 (MailboxConcurrency: more than 4 requests in flight per mailbox, or the 10,000 "
       "requests per 10 minutes limit) or 503 with a Retry-After hint.",
       "The workbench waits as told and retries; lower max_concurrent_mailboxes or batch_size if it persists.",
       transient=True)
_entry("GRAPH_SERVER_ERROR", "Microsoft Graph server error",
       "Graph answered with an HTTP 5xx without a throttling hint.",
       "Usually transient; the sync retries until the mailbox deadline.", transient=True)
_entry("GRAPH_UNREACHABLE", "Graph or the identity platform unreachable",
       "No connection to graph_endpoint or graph_authority_host (DNS, firewall, proxy), or the connection "
       "dropped or timed out mid-request.",
       "Check graph_endpoint and graph_authority_host and that this machine reaches them over HTTPS.",
       transient=True)
_entry("GRAPH_TLS_UNTRUSTED", "Graph server certificate not trusted",
       "The TLS certificate of graph_endpoint or graph_authority_host is not signed by a trusted CA (the "
       "system CA store, or graph_ca_bundle when set), has expired or names another host.",
       "Leave graph_ca_bundle empty for Microsoft's clouds (system CA store), or point it at the PEM bundle of "
       "the CA that signs your endpoint (a TLS-inspecting proxy's CA). Verification is never switched off.")
_entry("GRAPH_MAILBOX_NOT_FOUND", "No such mailbox in the tenant",
       "Graph does not know the user (404 ErrorInvalidUser / ResourceNotFound), or the user has no Exchange "
       "Online mailbox (still on-premises: set the operator's backend to ews).",
       "Check the operator's e-mail address; for a hybrid organisation set backend per operator.")
_entry("GRAPH_EMAIL_MISMATCH", "E-mail is not the mailbox's primary address",
       "The address resolves to a mailbox whose primary SMTP address is a different one (an alias).",
       "Set the operator's e-mail to the primary address the check names.")
_entry("GRAPH_ITEM_REJECTED", "Graph rejected an item",
       "Graph refused to create, update or delete one contact (per-request error inside a $batch).",
       "See the journal entry for the item and Graph's message; fix the contact data and rerun.")
_entry("GRAPH_CONFLICT", "Item changed in the mailbox meanwhile",
       "The item's change key is stale (412 ErrorIrresolvableConflict): someone edited it after the plan.",
       "Rerun the sync: a new plan sees the current version.", transient=True)
_entry("GRAPH_PROTOCOL", "Unexpected answer from Microsoft Graph",
       "Graph sent something the workbench could not interpret (not JSON, a missing field, a 4xx it does not "
       "expect).",
       "Check graph_endpoint ends in /v1.0 of a Graph cloud; report the journal entry if it persists.")
_entry("GRAPH_DELTA_RESET", "Graph delta state no longer valid",
       "Graph answered 410 (syncStateNotFound / resyncRequired) to the stored delta link: the mailbox was "
       "moved, restored, or the state aged out.",
       "Nothing to do: the sync starts a full snapshot for that mailbox and journals it.")
_entry("GRAPH_SUBSCRIPTION_REFUSED", "Graph subscription refused",
       "Graph refused to create or renew a change-notification subscription (notification URL failed the "
       "validation handshake, expiration out of range, or the resource is not allowed).",
       "Check that notification_url is an https URL Graph can reach and that the agent answers its "
       "validation request within 10 s.")
_entry("OPERATOR_BACKEND_LINKED", "Operator already synced on its backend",
       "The operator's mailbox has links to items read through its current backend; EWS and Graph name the same "
       "item with different ids, so switching the backend alone would make the next sync see other items.",
       "Move it with `workbench operators move ID --to graph|ews` (translates its stored item ids, keeps links "
       "and journal); `operators backend` is for operators not synced yet.", exit_code=2)
_entry("GRAPH_SUBSCRIPTION_GONE", "Graph subscription removed",
       "Graph no longer knows the subscription (404 on renew or delete, or a subscriptionRemoved lifecycle "
       "event): it expired or was deleted.",
       "The agent creates a new one and catches up by delta; nothing is lost.")
# --- operators move from a CSV and several at once (issue 14: movemany) ----------------
_entry("MOVE_CSV_INVALID", "Move file refused",
       "The `operators move --csv` file is not a readable CSV with operator_id and backend columns, or rows break "
       "its rules (empty, unknown or repeated operator id, a backend other than ews, graph or empty).",
       "Fix what is listed (line, column, reason) and rerun; nothing was moved.", exit_code=2)
# --- Graph webhooks (the agent's listener; issue 14) ---------------------------
_entry("GRAPH_WEBHOOK_HANDSHAKE", "Listener failed Graph's validation handshake",
       "The listener at notification_url did not echo the validationToken as 200 text/plain within 10 s (another "
       "service answers there, its TLS certificate is not trusted, or it is too slow); Graph refuses to subscribe.",
       "Run `workbench agent` with backend=graph settings behind notification_url; publish it with a certificate "
       "Graph trusts (a public CA); `workbench check` repeats the handshake.")


class WorkbenchError(Exception):
    """An error with a catalogue code; ``detail`` names the field, value and rule."""

    def __init__(self, code: str, detail: str = "", **context: object) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"unknown failure code {code!r}")
        self.code = code
        self.detail = detail
        self.context = context
        super().__init__(f"{code}: {detail}" if detail else code)

    @property
    def failure(self) -> Failure:
        return CATALOGUE[self.code]

    @property
    def exit_code(self) -> int:
        return self.failure.exit_code

    @property
    def back_off(self) -> float | None:
        """Seconds the server asked us to wait before the next try (Exchange's BackOffMilliseconds, Graph's
        Retry-After), or None; set by the backend that mapped the error."""
        hint = self.context.get("back_off")
        return float(hint) if hint else None

    def headline(self) -> str:
        f = self.failure
        return f"{f.code}: {f.title} — {f.remedy}"


class ValidationError(WorkbenchError):
    """Several rule violations reported at once; nothing was written."""

    def __init__(self, code: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(code, "\n".join(problems))


def explain(code: str) -> Failure:
    try:
        return CATALOGUE[code.upper()]
    except KeyError:
        raise WorkbenchError("USAGE", f"code={code!r}: not in the failure catalogue "
                                      f"(`workbench explain --all` lists them)") from None
