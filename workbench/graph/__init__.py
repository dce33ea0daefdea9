"""The Microsoft Graph implementation of the mailbox-backend protocol (Exchange Online), beside
``workbench.exchange`` (EWS). msal and httpx are used only here (and in the sandbox)."""
