"""`review serve`: team screening in a local web app (see :mod:`toolkit.web.app`)."""
