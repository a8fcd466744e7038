"""Dialogs: signing in, first-run set-up, the lock screen, co-signature and the unlock PIN."""
