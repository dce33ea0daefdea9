"""The only package that imports exchangelib or pyjks.

- ``keystore``   JKS/PKCS12 read, JKS write, fetch the server's certificate, trust context
- ``trust``      per-endpoint keystore trust for exchangelib's HTTP adapter
- ``client``     ExchangeConnection / connect: NTLM, impersonation, pinned version, retry policy
- ``errors_map`` to_workbench_error: exchangelib/HTTP/TLS/socket exceptions -> the failure catalogue

Import the submodules you need; importing this package imports nothing heavy.
"""
