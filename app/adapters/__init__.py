"""Hardware and outside services behind Protocols, each with a fake that ships in the package."""
