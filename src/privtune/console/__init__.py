"""privtune console: a web console for the people who govern HR data (docs/console.md).

:mod:`app` (the FastAPI app factory: login into a session cookie, CSRF, a strict CSP, every
page and action checked by the workspace's Guard and audited), :mod:`session` (server-side
sessions and CSRF tokens), :mod:`pages` (what each page shows, read through the library as the
signed-in user), :mod:`svg` (server-side inline SVG plots), :mod:`service` (wiring, TLS,
uvicorn). The API keys, their cache and the TLS helper are the serving stack's
(:mod:`privtune.serve`).
"""
