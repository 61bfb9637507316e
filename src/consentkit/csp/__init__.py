"""Consent-aware Content-Security-Policy: the browser refuses what the visitor refused.

`policy` builds one policy per set of granted categories (``Category.hosts``);
`endpoint` takes the browsers' violation reports at ``{prefix}/csp-report``;
`store` keeps their daily counts; `summary` and `cli` report them.
"""
