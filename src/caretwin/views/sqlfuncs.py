"""DuckDB macros the compiled views call: FHIRPath collections as ``JSON[]`` lists.

A FHIRPath collection compiles to a DuckDB ``JSON[]``; navigation flattens arrays and drops JSON
nulls, as FHIRPath does. Booleans compile to SQL ``BOOLEAN`` where ``NULL`` is the empty
collection, so ``and``/``or``/``not`` get FHIRPath's three-valued logic from SQL's for free. The
reference-key macros mirror :func:`caretwin.views.fhirpath.reference_key` (and so ingestion's
:func:`caretwin.fhir.refs.resolve`); the conformance test runs both engines to keep them equal.
"""

from __future__ import annotations

import duckdb

# Macros are expanded textually, so an argument used twice is computed twice (and planned
# twice: nested navigation would grow exponentially). Every macro therefore uses each argument
# once, binding it to a lambda parameter where it needs it more than once:
# ``list_transform([arg], lambda v: <uses v freely>)[1]``.
MACROS: tuple[str, ...] = (
    # JSON values as one collection: arrays flattened, JSON null and SQL NULL dropped
    """ct_flat(js) AS flatten(list_transform(js, lambda j: CASE
        WHEN j IS NULL OR json_type(j) = 'NULL' THEN []::JSON[]
        WHEN json_type(j) = 'ARRAY'
        THEN list_filter(CAST(j AS JSON[]), lambda e: json_type(e) <> 'NULL')
        ELSE [j] END))""",
    "ct_items(j) AS ct_flat([j])",
    "ct_one(j) AS list_filter([j::JSON], lambda e: e IS NOT NULL)",
    "ct_nav(l, k) AS ct_flat(list_transform(l, lambda x: json_extract(x, k)))",
    # a choice element (value[x]) when its type is not known: every key value<Upper>...
    """ct_choice(l, k) AS flatten(list_transform(l, lambda x: CASE
        WHEN json_type(x) <> 'OBJECT' THEN []::JSON[]
        ELSE ct_flat(list_transform(list_filter(json_keys(x), lambda key: key = k
            OR (starts_with(key, k) AND length(key) > length(k)
                AND upper(key[length(k) + 1]) = key[length(k) + 1])),
            lambda key: json_extract(x, '$."' || key || '"'))) END))""",
    # singleton evaluation: empty -> NULL; several -> error; one -> the JSON value
    """ct_single(l, msg) AS list_transform([l], lambda v: CASE WHEN len(v) > 1 THEN error(msg)
        ELSE v[1] END)[1]""",
    """ct_bool(l) AS list_transform(l[1:1], lambda e: CASE WHEN json_type(e) = 'BOOLEAN'
        THEN CAST(e AS BOOLEAN) ELSE true END)[1]""",
    "ct_of_bool(b) AS list_filter([to_json(b)], lambda e: e IS NOT NULL)",
    "ct_is_num(j) AS json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')",
    """ct_scalar_eq(a, b) AS CASE WHEN ct_is_num(a) AND ct_is_num(b)
        THEN CAST(a AS DOUBLE) = CAST(b AS DOUBLE)
        WHEN json_type(a) <> json_type(b) AND (ct_is_num(a) OR ct_is_num(b)) THEN false
        ELSE a ->> '$' = b ->> '$' END""",
    """ct_eq(a, b) AS list_transform([{'a': a, 'b': b}], lambda p: CASE
        WHEN len(p.a) = 0 OR len(p.b) = 0 THEN NULL
        WHEN len(p.a) <> len(p.b) THEN false
        ELSE list_bool_and(list_transform(range(1, len(p.a) + 1),
            lambda i: ct_scalar_eq(p.a[i], p.b[i]))) END)[1]""",
    # comparison of two singletons: numbers as numbers, anything else as text
    """ct_cmp(a, b) AS list_transform([{'a': a[1], 'b': b[1]}], lambda p: CASE
        WHEN p.a IS NULL OR p.b IS NULL THEN NULL
        WHEN ct_is_num(p.a) AND ct_is_num(p.b)
        THEN sign(CAST(p.a AS DOUBLE) - CAST(p.b AS DOUBLE))
        WHEN p.a ->> '$' < p.b ->> '$' THEN -1
        WHEN p.a ->> '$' > p.b ->> '$' THEN 1 ELSE 0 END)[1]""",
    "ct_num(l) AS CAST(l[1] AS DOUBLE)",
    "ct_of_num(n) AS list_filter([to_json(n)], lambda e: e IS NOT NULL)",
    "ct_of_text(s) AS list_filter([to_json(s)], lambda e: e IS NOT NULL)",
    "ct_text(l) AS l[1] ->> '$'",
    # references: Type/id, absolute URLs and _history give the id; urn:, # and ?query keep text
    """ct_ref_text(x) AS CASE WHEN coalesce(x ->> 'reference', '') <> '' THEN x ->> 'reference'
        WHEN x ->> '$.identifier.value' IS NOT NULL AND x ->> 'type' IS NOT NULL
        THEN (x ->> 'type') || '?identifier=' || CASE WHEN x ->> '$.identifier.system' IS NULL
            THEN '' ELSE (x ->> '$.identifier.system') || '|' END || (x ->> '$.identifier.value')
        ELSE NULL END""",
    # the segment before the last of a split path when both are non-empty, else '' (what
    # regexp_extract(p, '([^/]+)/[^/]+$', 1) gives, without a regex: ~10 % of a reference key)
    "ct_second_last(s) AS CASE WHEN s[-1] = '' THEN '' ELSE s[-2] END",
    # {text, literal (no urn:/#/?), path without a _history suffix, declared type}; the regex
    # runs only on the rare text that holds '/_history/'
    """ct_ref_info(x) AS list_transform([{'t': ct_ref_text(x), 'y': nullif(x ->> 'type', '')}],
        lambda r: {'t': r.t, 'y': r.y,
            'lit': NOT (starts_with(r.t, 'urn:') OR starts_with(r.t, '#') OR contains(r.t, '?')),
            'p': CASE WHEN contains(r.t, '/_history/')
                THEN regexp_replace(rtrim(r.t, '/'), '/_history/[^/]+$', '')
                ELSE rtrim(r.t, '/') END})[1]""",
    """ct_ref_key(x, want) AS list_transform([ct_ref_info(x)], lambda r: CASE
        WHEN r.t IS NULL THEN NULL
        WHEN want IS NOT NULL AND coalesce(r.y, CASE
            WHEN NOT r.lit AND contains(r.t, '?') AND NOT starts_with(r.t, 'urn:')
            THEN nullif(split_part(r.t, '?', 1), '')
            WHEN r.lit AND contains(r.p, '/') THEN ct_second_last(string_split(r.p, '/'))
            ELSE NULL END) <> want THEN NULL
        WHEN NOT r.lit THEN r.t
        WHEN contains(r.p, '/') THEN string_split(r.p, '/')[-1]
        ELSE r.t END)[1]""",
    """ct_ref_keys(l, want) AS list_transform(list_filter(list_transform(
        list_filter(l, lambda o: json_type(o) = 'OBJECT'),
        lambda o: ct_ref_key(o, want)), lambda k: k IS NOT NULL), lambda k: to_json(k))""",
)


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Define the macros on ``con`` (idempotent: ``CREATE OR REPLACE``)."""
    for macro in MACROS:
        con.execute(f"CREATE OR REPLACE TEMP MACRO {macro}")
