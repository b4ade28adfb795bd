-- test/upgrade/schema.sql: every object of the pg_tenancy extension, one
-- line (or a few) each, by name and never by oid, so that two databases can
-- be compared with diff: an updated one and a fresh CREATE EXTENSION.
-- Functions with their whole definition (pg_get_functiondef: language,
-- volatility, strictness, parallel safety, SECURITY DEFINER, settings,
-- body), their grants and comments; tables with every column, default,
-- constraint, index, trigger, policy, grant and comment; types, operators,
-- casts, event triggers, the schema, and what pg_dump takes as
-- configuration data.
\pset format unaligned
\pset tuples_only on
\pset pager off
SET search_path = pg_catalog;

WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pg_tenancy'),
members AS (
    SELECT d.classid, d.objid, d.objsubid
    FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
      AND d.deptype = 'e'
),
acl AS (
    -- An ACL's entries in a stable order.
    SELECT NULL::int AS dummy
),
lines AS (
    -- Every member, as pg_describe_object names it.
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, m.objsubid) AS line
    FROM members m

    -- Functions: the whole definition, grants, comment.
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || E'\n' ||
           CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid)
                ELSE 'aggregate' END
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' acl ' ||
           coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) x), 'default')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '(none)')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid

    -- Relations: kind, options, row-level security, grants, comment.
    UNION ALL
    SELECT format('relation %s kind %s persistence %s rls %s force %s options %s acl %s comment %s',
                  c.oid::regclass, c.relkind, c.relpersistence, c.relrowsecurity,
                  c.relforcerowsecurity, coalesce(c.reloptions::text, '{}'),
                  coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) x), 'default'),
                  coalesce(obj_description(c.oid, 'pg_class'), '(none)'))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    -- Columns, in their order.
    UNION ALL
    SELECT format('column %s.%s #%s %s notnull %s default %s identity "%s" generated "%s" collation %s acl %s comment %s',
                  c.oid::regclass, quote_ident(a.attname), a.attnum, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, coalesce(pg_get_expr(ad.adbin, ad.adrelid), '(none)'),
                  a.attidentity, a.attgenerated,
                  coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation), '-'),
                  coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), 'default'),
                  coalesce(col_description(c.oid, a.attnum), '(none)'))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    -- View and materialized view bodies.
    UNION ALL
    SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    WHERE c.relkind IN ('v', 'm')
    -- Sequences.
    UNION ALL
    SELECT format('sequence %s %s %s %s %s %s %s', s.seqrelid::regclass, s.seqtypid::regtype,
                  s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcycle)
    FROM members m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
    -- Constraints of the extension's tables (and of its domains).
    UNION ALL
    SELECT format('constraint %s on %s: %s%s comment %s', quote_ident(k.conname),
                  coalesce(k.conrelid::regclass::text, k.contypid::regtype::text),
                  pg_get_constraintdef(k.oid),
                  CASE WHEN k.condeferrable THEN ' deferrable' ELSE '' END,
                  coalesce(obj_description(k.oid, 'pg_constraint'), '(none)'))
    FROM pg_constraint k
    WHERE k.conrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
       OR k.contypid IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass)
    -- Indexes (those of constraints too).
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index i
    WHERE i.indrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
    -- Triggers.
    UNION ALL
    SELECT format('trigger %s enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
    FROM pg_trigger t
    WHERE NOT t.tgisinternal
      AND t.tgrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
    -- Policies on the extension's tables.
    UNION ALL
    SELECT format('policy %s on %s %s %s to %s using %s check %s', quote_ident(p.polname),
                  p.polrelid::regclass, p.polcmd, p.polpermissive,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY r) FROM unnest(p.polroles) r),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_policy p
    WHERE p.polrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
    -- Types.
    UNION ALL
    SELECT format('type %s type %s category %s len %s byval %s align %s storage %s in %s out %s recv %s send %s typmod %s/%s analyze %s subscript %s elem %s base %s notnull %s default %s acl %s comment %s',
                  t.oid::regtype, t.typtype, t.typcategory, t.typlen, t.typbyval, t.typalign, t.typstorage,
                  t.typinput::regproc, t.typoutput::regproc, t.typreceive::regproc, t.typsend::regproc,
                  t.typmodin::regproc, t.typmodout::regproc, t.typanalyze::regproc, t.typsubscript::regproc,
                  t.typelem::regtype, t.typbasetype::regtype, t.typnotnull, coalesce(t.typdefault, '(none)'),
                  coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(t.typacl) x), 'default'),
                  coalesce(obj_description(t.oid, 'pg_type'), '(none)'))
    FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    -- Composite types' and enums' contents.
    UNION ALL
    SELECT format('enum %s %s %s', e.enumtypid::regtype, e.enumsortorder, e.enumlabel)
    FROM members m JOIN pg_enum e ON m.classid = 'pg_type'::regclass AND e.enumtypid = m.objid
    -- Operators.
    UNION ALL
    SELECT format('operator %s proc %s commutator %s negator %s restrict %s join %s merges %s hashes %s comment %s',
                  o.oid::regoperator, o.oprcode::regproc, o.oprcom::regoperator, o.oprnegate::regoperator,
                  o.oprrest::regproc, o.oprjoin::regproc, o.oprcanmerge, o.oprcanhash,
                  coalesce(obj_description(o.oid, 'pg_operator'), '(none)'))
    FROM members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
    -- Operator classes and families, with their members.
    UNION ALL
    SELECT format('opclass %s %s default %s type %s', am.amname, quote_ident(oc.opcname),
                  oc.opcdefault, oc.opcintype::regtype)
    FROM members m JOIN pg_opclass oc ON m.classid = 'pg_opclass'::regclass AND oc.oid = m.objid
    JOIN pg_am am ON am.oid = oc.opcmethod
    UNION ALL
    SELECT format('opfamily %s %s amop %s %s %s', am.amname, quote_ident(f.opfname),
                  ao.amopstrategy, ao.amopopr::regoperator, ao.amoppurpose)
    FROM members m JOIN pg_opfamily f ON m.classid = 'pg_opfamily'::regclass AND f.oid = m.objid
    JOIN pg_am am ON am.oid = f.opfmethod
    JOIN pg_amop ao ON ao.amopfamily = f.oid
    UNION ALL
    SELECT format('opfamily %s %s amproc %s %s', am.amname, quote_ident(f.opfname),
                  ap.amprocnum, ap.amproc::regprocedure)
    FROM members m JOIN pg_opfamily f ON m.classid = 'pg_opfamily'::regclass AND f.oid = m.objid
    JOIN pg_am am ON am.oid = f.opfmethod
    JOIN pg_amproc ap ON ap.amprocfamily = f.oid
    -- Casts.
    UNION ALL
    SELECT format('cast %s -> %s via %s context %s method %s', k.castsource::regtype,
                  k.casttarget::regtype, k.castfunc::regprocedure, k.castcontext, k.castmethod)
    FROM members m JOIN pg_cast k ON m.classid = 'pg_cast'::regclass AND k.oid = m.objid
    -- Event triggers.
    UNION ALL
    SELECT format('event trigger %s on %s tags %s function %s enabled %s comment %s',
                  quote_ident(e.evtname), e.evtevent, coalesce(e.evttags::text, '(all)'),
                  e.evtfoid::regprocedure, e.evtenabled,
                  coalesce(obj_description(e.oid, 'pg_event_trigger'), '(none)'))
    FROM members m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
    -- The schema.
    UNION ALL
    SELECT format('schema %s owner-is-superuser %s acl %s comment %s', quote_ident(n.nspname),
                  (SELECT rolsuper FROM pg_roles WHERE oid = n.nspowner),
                  coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(n.nspacl) x), 'default'),
                  coalesce(obj_description(n.oid, 'pg_namespace'), '(none)'))
    FROM pg_namespace n WHERE n.nspname = 'tenancy'
    -- The extension itself: version, and what pg_dump dumps as data.
    UNION ALL
    SELECT format('extension %s version %s relocatable %s schema %s', e.extname, e.extversion,
                  e.extrelocatable, e.extnamespace::regnamespace)
    FROM pg_extension e WHERE e.extname = 'pg_tenancy'
    UNION ALL
    SELECT format('config %s condition %s', c.relid::regclass, quote_literal(c.cond))
    FROM pg_extension e,
         unnest(e.extconfig, e.extcondition) AS c(relid, cond)
    WHERE e.extname = 'pg_tenancy'
    -- Objects in the schema that are not the extension's.
    UNION ALL
    SELECT 'stray relation ' || c.oid::regclass
    FROM pg_class c WHERE c.relnamespace = 'tenancy'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM members m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid)
      AND c.relkind NOT IN ('i', 'I', 't')
    UNION ALL
    SELECT 'stray function ' || p.oid::regprocedure
    FROM pg_proc p WHERE p.pronamespace = 'tenancy'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM members m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
)
SELECT line FROM lines ORDER BY line COLLATE "C";
