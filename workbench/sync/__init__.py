"""Contact sync: plan (pure), preview, engine (batched execution), notifications.

Import the submodules you need; this package imports nothing heavy on its own.
"""
