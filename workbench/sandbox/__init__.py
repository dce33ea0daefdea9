"""A local Exchange (EWS over HTTPS + NTLM on loopback) for the demo and the tests.

Standalone: nothing here imports the rest of ``workbench``.
"""
from .sandbox import MailboxView, Sandbox, SandboxInfo, ServiceAccount

__all__ = ["MailboxView", "Sandbox", "SandboxInfo", "ServiceAccount"]
