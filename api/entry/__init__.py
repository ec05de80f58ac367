"""Entry points, the outermost ring: the `linkage` command line (`cli`), the demo
(`demo`, `demo_levels`), the audit and privacy commands (`audit_cli`, `privacy_cli`)
and the HTTP server (`server`). They wire and import everything else; nothing in
domain/, projections/, infra/ or the rest of api/ imports them (tests/unit/test_layers.py).
"""
