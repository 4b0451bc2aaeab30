-- SPDX-License-Identifier: Apache-2.0
-- vexdb 0.1 -> 0.2: scale-out over postgres_fdw (docs/scale-out.md).
-- The same objects are at the end of vexdb--0.2.sql; the postgres_scale
-- test checks that a fresh 0.2 and an upgraded 0.1 have the same objects.
--
-- A sharded table is a hash-partitioned table whose partitions are
-- postgres_fdw foreign tables, each on one shard server, where a plain
-- table with a vexhnsw index holds the rows. Remote DDL and the parallel
-- fan-out go through dblink; both dblink and postgres_fdw are looked up
-- when a function runs (they are not required by CREATE EXTENSION vexdb),
-- and a missing one is an error that says which and how to install it.

\echo Use "ALTER EXTENSION vexdb UPDATE TO '0.2'" to load this file. \quit

-- ---- layout catalog ----

-- One row per sharded table (dumped by pg_dump with the extension).
CREATE TABLE vex_shard_layout (
  tbl regclass PRIMARY KEY,
  key_column name NOT NULL,
  vector_column name NOT NULL,
  columns text NOT NULL,
  opclass name NOT NULL,
  operator text NOT NULL CHECK (operator IN ('<->', '<#>', '<=>')),
  index_options text NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('vex_shard_layout', '');

-- ---- internal helpers ----

-- The schema of an installed extension, quoted, or an error naming it.
CREATE FUNCTION vex_shard_ext_schema(ext name) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE s name;
BEGIN
  SELECT n.nspname INTO s FROM pg_catalog.pg_extension e
    JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = ext;
  IF s IS NULL THEN
    RAISE EXCEPTION 'vexdb: the % extension is not installed in this database', ext
      USING ERRCODE = 'feature_not_supported',
            HINT = format('CREATE EXTENSION %I (PostgreSQL contrib); see docs/scale-out.md', ext);
  END IF;
  RETURN pg_catalog.quote_ident(s);
END $$;

-- Run one statement on a shard server (a foreign server name; dblink uses
-- its options and the current user's user mapping). Errors name the server.
CREATE FUNCTION vex_shard_remote_exec(server name, stmt text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE d text := vex_shard_ext_schema('dblink');
BEGIN
  EXECUTE format('SELECT %s.dblink_exec(%L, %L)', d, server, stmt);
EXCEPTION WHEN OTHERS THEN
  RAISE EXCEPTION 'vexdb: shard server "%": %', server, SQLERRM
    USING ERRCODE = SQLSTATE;
END $$;

-- Set (add or replace) one option of a foreign server.
CREATE FUNCTION vex_shard_server_option(server name, opt text, val text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server s,
                    pg_catalog.pg_options_to_table(s.srvoptions) o
              WHERE s.srvname = server AND o.option_name = opt) THEN
    EXECUTE format('ALTER SERVER %I OPTIONS (SET %I %L)', server, opt, val);
  ELSE
    EXECUTE format('ALTER SERVER %I OPTIONS (ADD %I %L)', server, opt, val);
  END IF;
END $$;

-- The foreign partitions of a sharded table: partition, hash remainder,
-- server and the remote table (schema.table, quoted).
CREATE FUNCTION vex_shards(tbl regclass)
RETURNS TABLE (part regclass, remainder integer, server name, remote_table text)
LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass,
         (regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),
                       'remainder (\d+)'))[1]::integer,
         s.srvname,
         pg_catalog.quote_ident(coalesce(
           (SELECT option_value FROM pg_catalog.pg_options_to_table(ft.ftoptions)
             WHERE option_name = 'schema_name'), n.nspname)) || '.' ||
         pg_catalog.quote_ident(coalesce(
           (SELECT option_value FROM pg_catalog.pg_options_to_table(ft.ftoptions)
             WHERE option_name = 'table_name'), c.relname))
    FROM pg_catalog.pg_inherits i
    JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
    JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
   WHERE i.inhparent = tbl
   ORDER BY 2
$$;

-- The layout row of a sharded table, or an error.
CREATE FUNCTION vex_shard_layout_of(t regclass) RETURNS vex_shard_layout
LANGUAGE plpgsql STABLE AS $$
DECLARE l vex_shard_layout;
BEGIN
  SELECT * INTO l FROM vex_shard_layout WHERE tbl = t;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'vexdb: % is not a sharded table (vex_create_sharded_table)', t
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN l;
END $$;

-- Create the shard table and its vexhnsw index on a server, both or
-- neither (one query string: one implicit transaction there).
CREATE FUNCTION vex_shard_create_remote(l vex_shard_layout, server name, remote name)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM vex_shard_remote_exec(server, format(
    'CREATE TABLE public.%I (%s); CREATE INDEX %I ON public.%I USING vexhnsw (%I %I)%s',
    remote, l.columns, remote || '_' || l.vector_column, remote, l.vector_column, l.opclass,
    CASE WHEN l.index_options = '' THEN '' ELSE ' WITH (' || l.index_options || ')' END));
END $$;

-- ---- shard servers ----

-- Register (or update) a shard server: a postgres_fdw foreign server with
-- the options the scale-out needs (extensions 'vexdb' so that the distance
-- operators, ORDER BY and LIMIT are shipped to the shard; async_capable so
-- that Append nodes scan shards at once), a user mapping for the current
-- user, and vexdb installed on the server (same version as here).
-- fetch_size (rows per round trip of a foreign scan) is left at
-- postgres_fdw's default (100) unless given; batch_size (rows per remote
-- INSERT) is 100 rather than postgres_fdw's 1.
CREATE FUNCTION vex_add_shard(server name, host text, port integer, dbname text,
                              remote_user text DEFAULT current_user,
                              fetch_size integer DEFAULT NULL,
                              batch_size integer DEFAULT 100)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v text;
  mine text;
BEGIN
  PERFORM vex_shard_ext_schema('postgres_fdw');
  PERFORM vex_shard_ext_schema('dblink');
  IF fetch_size IS NOT NULL AND fetch_size < 1 THEN
    RAISE EXCEPTION 'vexdb: fetch_size must be positive, not %', fetch_size
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'vexdb: batch_size must be positive, not %', coalesce(batch_size::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = server) THEN
    EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                   server, host, port::text, dbname);
  ELSE
    PERFORM vex_shard_server_option(server, 'host', host);
    PERFORM vex_shard_server_option(server, 'port', port::text);
    PERFORM vex_shard_server_option(server, 'dbname', dbname);
  END IF;
  PERFORM vex_shard_server_option(server, 'extensions', 'vexdb');
  PERFORM vex_shard_server_option(server, 'async_capable', 'true');
  PERFORM vex_shard_server_option(server, 'batch_size', batch_size::text);
  IF fetch_size IS NOT NULL THEN
    PERFORM vex_shard_server_option(server, 'fetch_size', fetch_size::text);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_user_mappings
                  WHERE srvname = server AND usename = current_user) THEN
    EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (user %L)',
                   server, remote_user);
  END IF;
  PERFORM vex_shard_remote_exec(server, 'CREATE EXTENSION IF NOT EXISTS vexdb');
  EXECUTE format('SELECT v FROM %s.dblink(%L, %L) AS r(v text)',
                 vex_shard_ext_schema('dblink'), server,
                 'SELECT extversion FROM pg_extension WHERE extname = ''vexdb''') INTO v;
  SELECT extversion INTO mine FROM pg_catalog.pg_extension WHERE extname = 'vexdb';
  IF v IS DISTINCT FROM mine THEN
    RAISE EXCEPTION 'vexdb: shard server "%" has vexdb %, this database %', server, v, mine
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'ALTER EXTENSION vexdb UPDATE on both';
  END IF;
END $$;

-- ---- sharded tables ----

-- Create a hash-partitioned table `table_name` (column definitions `columns`,
-- partitioned by `key_column`) with `partitions` foreign partitions spread
-- round-robin over `servers`; each partition is a table of the same name
-- in the public schema of its server with a vexhnsw index on
-- `vector_column` (operator class and WITH options as given).
CREATE FUNCTION vex_create_sharded_table(table_name text, columns text, key_column name,
                                         vector_column name, servers name[],
                                         partitions integer DEFAULT NULL,
                                         opclass name DEFAULT 'vexvector_l2_ops',
                                         index_options text DEFAULT '')
RETURNS regclass LANGUAGE plpgsql AS $$
DECLARE
  nparts integer := coalesce(partitions, cardinality(servers));
  t regclass;
  l vex_shard_layout;
  op text;
  srv name;
  part text;
  made_srv name[] := '{}';
  made_tbl text[] := '{}';
BEGIN
  IF servers IS NULL OR cardinality(servers) = 0 THEN
    RAISE EXCEPTION 'vexdb: vex_create_sharded_table needs at least one server'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF nparts < 1 OR nparts > 1024 THEN
    RAISE EXCEPTION 'vexdb: partitions must be 1..1024, not %', nparts
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH srv IN ARRAY servers LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = srv) THEN
      RAISE EXCEPTION 'vexdb: no shard server "%" (vex_add_shard)', srv
        USING ERRCODE = 'undefined_object';
    END IF;
  END LOOP;
  op := CASE opclass WHEN 'vexvector_l2_ops' THEN '<->'
                     WHEN 'vexvector_ip_ops' THEN '<#>'
                     WHEN 'vexvector_cosine_ops' THEN '<=>' END;
  IF op IS NULL THEN
    RAISE EXCEPTION 'vexdb: unknown operator class "%" (vexvector_l2_ops, vexvector_ip_ops, vexvector_cosine_ops)', opclass
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  EXECUTE format('CREATE TABLE %s (%s) PARTITION BY HASH (%I)', table_name, columns, key_column);
  t := table_name::regclass;
  l := ROW(t, key_column, vector_column, columns, opclass, op, coalesce(index_options, ''));
  -- the layout row first: the remote DDL below uses it
  INSERT INTO vex_shard_layout SELECT (l).*;
  BEGIN
    FOR i IN 0 .. nparts - 1 LOOP
      srv := servers[1 + i % cardinality(servers)];
      part := (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = t) || '_p' || i;
      PERFORM vex_shard_create_remote(l, srv, part);
      made_srv := made_srv || srv;
      made_tbl := made_tbl || part;
      EXECUTE format('CREATE FOREIGN TABLE %I.%I PARTITION OF %s FOR VALUES WITH (MODULUS %s, REMAINDER %s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                     (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = t),
                     part, t, nparts, i, srv, 'public', part);
    END LOOP;
  EXCEPTION WHEN OTHERS THEN
    -- the remote tables were committed there at once: drop them again
    -- (this transaction's local part rolls back with the error)
    FOR i IN 1 .. coalesce(cardinality(made_srv), 0) LOOP
      BEGIN
        PERFORM vex_shard_remote_exec(made_srv[i], format('DROP TABLE IF EXISTS public.%I', made_tbl[i]));
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'vexdb: could not drop public.% on "%" again: %', made_tbl[i], made_srv[i], SQLERRM;
      END;
    END LOOP;
    RAISE;
  END;
  RETURN t;
END $$;

-- Drop a sharded table: the coordinator's table and layout row (committed
-- first), then each partition's remote table. A server that cannot be
-- reached leaves its tables behind, each named in a WARNING.
CREATE PROCEDURE vex_drop_sharded_table(tbl regclass)
LANGUAGE plpgsql AS $$
DECLARE
  srvs name[];
  remotes text[];
BEGIN
  PERFORM vex_shard_layout_of(tbl);
  SELECT array_agg(server ORDER BY remainder), array_agg(remote_table ORDER BY remainder)
    INTO srvs, remotes FROM vex_shards(tbl);
  DELETE FROM vex_shard_layout WHERE vex_shard_layout.tbl = vex_drop_sharded_table.tbl;
  EXECUTE format('DROP TABLE %s', tbl);
  COMMIT;
  FOR i IN 1 .. coalesce(cardinality(srvs), 0) LOOP
    BEGIN
      PERFORM vex_shard_remote_exec(srvs[i], format('DROP TABLE IF EXISTS %s', remotes[i]));
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'vexdb: % left on "%": %', remotes[i], srvs[i], SQLERRM;
    END;
  END LOOP;
END $$;

-- Move one partition of a sharded table to another server: create the
-- table and index there, copy the rows (through this server), swap the
-- foreign partition, commit, then drop the old remote table. Writes to
-- the sharded table wait for the move (it is locked in EXCLUSIVE mode).
CREATE PROCEDURE vex_move_partition(part regclass, to_server name)
LANGUAGE plpgsql AS $$
DECLARE
  parent regclass;
  l vex_shard_layout;
  sh record;
  tmp text;
  nsp name;
  rel name;
  nparts integer;
  moved bigint;
BEGIN
  SELECT i.inhparent INTO parent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = part;
  IF parent IS NULL THEN
    RAISE EXCEPTION 'vexdb: % is not a partition of a sharded table', part
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  l := vex_shard_layout_of(parent);
  SELECT * INTO sh FROM vex_shards(parent) s WHERE s.part = vex_move_partition.part;
  IF sh IS NULL THEN
    RAISE EXCEPTION 'vexdb: % is not a foreign partition of %', part, parent
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = to_server) THEN
    RAISE EXCEPTION 'vexdb: no shard server "%" (vex_add_shard)', to_server
      USING ERRCODE = 'undefined_object';
  END IF;
  IF sh.server = to_server THEN
    RAISE NOTICE 'vexdb: % is already on "%"', part, to_server;
    RETURN;
  END IF;
  SELECT c.relname, n.nspname INTO rel, nsp FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = part;
  SELECT count(*) INTO nparts FROM vex_shards(parent);
  tmp := rel || '_moving';
  PERFORM vex_shard_create_remote(l, to_server, rel);
  BEGIN
    -- readers go on; writers wait until the move commits
    EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', parent);
    EXECUTE format('CREATE FOREIGN TABLE %I.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                   nsp, tmp, l.columns, to_server, 'public', rel);
    EXECUTE format('INSERT INTO %I.%I SELECT * FROM %s', nsp, tmp, part);
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent, part);
    EXECUTE format('DROP FOREIGN TABLE %s', part);
    EXECUTE format('ALTER FOREIGN TABLE %I.%I RENAME TO %I', nsp, tmp, rel);
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                   parent, nsp, rel, nparts, sh.remainder);
  EXCEPTION WHEN OTHERS THEN
    -- nothing here changed; the new remote table goes again
    PERFORM vex_shard_remote_exec(to_server, format('DROP TABLE IF EXISTS public.%I', rel));
    RAISE;
  END;
  COMMIT;
  RAISE NOTICE 'vexdb: moved %.% (% rows) from "%" to "%"', nsp, rel, moved, sh.server, to_server;
  BEGIN
    PERFORM vex_shard_remote_exec(sh.server, format('DROP TABLE IF EXISTS %s', sh.remote_table));
  EXCEPTION WHEN OTHERS THEN
    -- the move is done; only the old copy is left behind
    RAISE WARNING 'vexdb: % left on "%" (drop it there): %', sh.remote_table, sh.server, SQLERRM;
  END;
END $$;

-- Spread the partitions of a sharded table evenly over `servers` (which
-- may add servers or leave some out), moving as few as possible.
CREATE PROCEDURE vex_rebalance(tbl regclass, servers name[])
LANGUAGE plpgsql AS $$
DECLARE
  nparts integer;
  ns integer := cardinality(servers);
  quota integer;
  extra integer;
  r record;
  target name;
  plan text[] := '{}';
  load jsonb := '{}';
  s name;
  i integer;
BEGIN
  PERFORM vex_shard_layout_of(tbl);
  IF ns IS NULL OR ns = 0 THEN
    RAISE EXCEPTION 'vexdb: vex_rebalance needs at least one server'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (SELECT count(DISTINCT x) FROM unnest(servers) x) <> ns THEN
    RAISE EXCEPTION 'vexdb: vex_rebalance: a server is named twice in %', servers
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH s IN ARRAY servers LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = s) THEN
      RAISE EXCEPTION 'vexdb: no shard server "%" (vex_add_shard)', s
        USING ERRCODE = 'undefined_object';
    END IF;
  END LOOP;
  SELECT count(*) INTO nparts FROM vex_shards(tbl);
  -- servers[1..extra] may hold quota + 1 partitions, the others quota
  quota := nparts / ns;
  extra := nparts % ns;
  FOREACH s IN ARRAY servers LOOP load := load || jsonb_build_object(s, 0); END LOOP;
  -- keep partitions where they are while their server is under its cap
  FOR r IN SELECT * FROM vex_shards(tbl) LOOP
    i := array_position(servers, r.server);
    IF i IS NOT NULL AND (load ->> r.server::text)::integer < quota + (i <= extra)::integer THEN
      load := jsonb_set(load, ARRAY[r.server::text], to_jsonb((load ->> r.server::text)::integer + 1));
    ELSE
      plan := plan || r.part::text;
    END IF;
  END LOOP;
  FOR j IN 1 .. cardinality(plan) LOOP
    target := NULL;
    FOR i IN 1 .. ns LOOP
      IF (load ->> servers[i]::text)::integer < quota + (i <= extra)::integer THEN
        target := servers[i];
        EXIT;
      END IF;
    END LOOP;
    load := jsonb_set(load, ARRAY[target::text], to_jsonb((load ->> target::text)::integer + 1));
    CALL vex_move_partition(plan[j]::regclass, target);
  END LOOP;
END $$;

-- ---- search ----

-- Run on a shard: the k rows of one table nearest to q by op (one of the
-- three distance operators), with vexdb.ef_search = ef for this
-- transaction when ef is not NULL.
CREATE FUNCTION vex_shard_topk(tbl regclass, key_column name, vector_column name,
                               op text, q vexvector, k integer, ef integer DEFAULT NULL)
RETURNS TABLE (id bigint, distance double precision)
LANGUAGE plpgsql AS $$
BEGIN
  IF op NOT IN ('<->', '<#>', '<=>') THEN
    RAISE EXCEPTION 'vexdb: unknown distance operator "%"', op
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF ef IS NOT NULL THEN
    PERFORM pg_catalog.set_config('vexdb.ef_search', ef::text, true);
  END IF;
  RETURN QUERY EXECUTE format('SELECT %I::bigint, (%I %s $1)::double precision FROM %s ORDER BY %I %s $1 LIMIT $2',
                              key_column, vector_column, op, tbl, vector_column, op)
    USING q, k;
END $$;

-- Search every shard server of a sharded table at once and merge the k
-- nearest rows. Each partition returns ceil(oversample * k / partitions)
-- rows (at most k); NULL oversample means k rows from each partition, so
-- the merge loses nothing. method 'dblink' (default): one dblink
-- connection per server, kept for the session, one query per server sent
-- asynchronously; ef_search, when given, is set on the shards for these
-- queries. method 'append': one statement over the foreign partitions
-- whose Append node scans them asynchronously (postgres_fdw's
-- async_capable), the shards' ef_search being their own setting. A server
-- that cannot be reached or fails is an error naming it; a kept connection
-- found broken (the server restarted since the last call) is replaced
-- once, and that server's query run again on the new one.
CREATE FUNCTION vex_search_shards(tbl regclass, query vexvector, k integer,
                                  oversample double precision DEFAULT NULL,
                                  ef_search integer DEFAULT NULL,
                                  method text DEFAULT 'dblink')
RETURNS TABLE (id bigint, distance double precision, shard name)
LANGUAGE plpgsql AS $$
DECLARE
  d text;
  l vex_shard_layout := vex_shard_layout_of(tbl);
  nparts integer;
  per integer;
  srv record;
  conns text[] := '{}';
  servers name[] := '{}';
  cname text;
  stmt text;
  r record;
  ids bigint[] := '{}';
  dists double precision[] := '{}';
  shards name[] := '{}';
  ok integer;
  have boolean;
  got boolean;
  kept boolean[] := '{}';
  sent boolean[] := '{}';
  queries text[] := '{}';
  part_ids bigint[];
  part_dists double precision[];
BEGIN
  IF k IS NULL OR k < 1 THEN
    RAISE EXCEPTION 'vexdb: k must be positive' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF oversample IS NOT NULL AND NOT (oversample > 0) THEN
    RAISE EXCEPTION 'vexdb: oversample must be positive, not %', oversample
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF ef_search IS NOT NULL AND ef_search < 1 THEN
    RAISE EXCEPTION 'vexdb: ef_search must be positive, not %', ef_search
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT count(*) INTO nparts FROM vex_shards(tbl);
  IF nparts = 0 THEN
    RAISE EXCEPTION 'vexdb: % has no foreign partitions', tbl
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  per := CASE WHEN oversample IS NULL THEN k
              ELSE least(k, greatest(1, ceil(oversample * k / nparts)::integer)) END;
  IF method = 'append' THEN
    IF ef_search IS NOT NULL THEN
      RAISE EXCEPTION 'vexdb: method ''append'' cannot set ef_search on the shards'
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'set vexdb.ef_search in the servers'' options (options ''-c vexdb.ef_search=N'') or use method ''dblink''';
    END IF;
    -- the ORDER BY on an expression the partitions do not sort by gives
    -- Append + Sort (async) instead of Merge Append (one shard at a time)
    SELECT string_agg(format(
             '(SELECT %I::bigint AS id, (%I %s $1)::double precision AS distance, %L::name AS shard FROM %s ORDER BY %I %s $1 LIMIT %s)',
             l.key_column, l.vector_column, l.operator, s.server, s.part, l.vector_column,
             l.operator, per), ' UNION ALL ')
      INTO stmt FROM vex_shards(tbl) s;
    BEGIN
      RETURN QUERY EXECUTE 'SELECT u.id, u.distance, u.shard FROM (' || stmt ||
                           ') u ORDER BY u.distance + 0, u.id LIMIT $2' USING query, k;
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION 'vexdb: searching the shards of %: %', tbl, SQLERRM
        USING ERRCODE = SQLSTATE;
    END;
    RETURN;
  ELSIF method IS DISTINCT FROM 'dblink' THEN
    RAISE EXCEPTION 'vexdb: unknown method "%" (dblink, append)', method
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  d := vex_shard_ext_schema('dblink');
  -- send: one query per server, the union of its partitions' top rows
  FOR srv IN SELECT s.server, string_agg(format(
                 'SELECT id, distance FROM vex_shard_topk(%L, %L, %L, %L, %L, %s, %s)',
                 s.remote_table, l.key_column, l.vector_column, l.operator, query::text,
                 per, coalesce(ef_search::text, 'NULL')), ' UNION ALL ') AS q
               FROM vex_shards(tbl) s GROUP BY s.server ORDER BY s.server LOOP
    cname := 'vexdb_shard_' || srv.server;
    conns := conns || cname;
    servers := servers || srv.server;
    queries := queries || srv.q;
    EXECUTE format('SELECT %L = ANY (coalesce(%s.dblink_get_connections(), %L))', cname, d, '{}')
      INTO have;
    kept := kept || have;
    BEGIN
      IF NOT have THEN
        EXECUTE format('SELECT %s.dblink_connect(%L, %L)', d, cname, srv.server);
      END IF;
      EXECUTE format('SELECT %s.dblink_send_query(%L, %L)', d, cname, srv.q) INTO ok;
      IF ok <> 1 THEN
        RAISE EXCEPTION 'could not send the query (connection lost)';
      END IF;
      sent := sent || true;
    EXCEPTION WHEN OTHERS THEN
      IF NOT have THEN
        -- drop the connections and abandon the others' queries
        PERFORM vex_shard_disconnect(d, conns);
        RAISE EXCEPTION 'vexdb: shard server "%" (table %): %', srv.server, tbl, SQLERRM
          USING ERRCODE = SQLSTATE;
      END IF;
      -- a kept connection broken since the last call: retried below
      sent := sent || false;
    END;
  END LOOP;
  -- receive: every server works meanwhile; collect in order
  FOR i IN 1 .. cardinality(conns) LOOP
    got := false;
    IF sent[i] THEN
      BEGIN
        EXECUTE format('SELECT array_agg(id), array_agg(distance) FROM %s.dblink_get_result(%L) AS r(id bigint, distance double precision)',
                       d, conns[i]) INTO part_ids, part_dists;
        -- the end of the results (dblink needs the empty one read)
        EXECUTE format('SELECT count(*) FROM %s.dblink_get_result(%L) AS r(id bigint, distance double precision)',
                       d, conns[i]) INTO ok;
        got := true;
      EXCEPTION WHEN OTHERS THEN
        IF NOT kept[i] THEN
          PERFORM vex_shard_disconnect(d, conns);
          RAISE EXCEPTION 'vexdb: shard server "%" (table %): %', servers[i], tbl, SQLERRM
            USING ERRCODE = SQLSTATE;
        END IF;
      END;
    END IF;
    IF NOT got THEN
      -- only a connection kept from an earlier call gets here: it may
      -- have broken since (the server restarted); once more on a new one
      BEGIN
        PERFORM vex_shard_disconnect(d, ARRAY[conns[i]]);
        EXECUTE format('SELECT %s.dblink_connect(%L, %L)', d, conns[i], servers[i]);
        EXECUTE format('SELECT array_agg(id), array_agg(distance) FROM %s.dblink(%L, %L) AS r(id bigint, distance double precision)',
                       d, conns[i], queries[i]) INTO part_ids, part_dists;
      EXCEPTION WHEN OTHERS THEN
        PERFORM vex_shard_disconnect(d, conns);
        RAISE EXCEPTION 'vexdb: shard server "%" (table %): %', servers[i], tbl, SQLERRM
          USING ERRCODE = SQLSTATE;
      END;
    END IF;
    IF part_ids IS NOT NULL THEN
      ids := ids || part_ids;
      dists := dists || part_dists;
      shards := shards || array_fill(servers[i], ARRAY[cardinality(part_ids)]);
    END IF;
  END LOOP;
  RETURN QUERY SELECT u.i, u.dd, u.s FROM unnest(ids, dists, shards) AS u(i, dd, s)
                ORDER BY u.dd, u.i LIMIT k;
END $$;

-- Close the named dblink connections that exist (errors ignored: this
-- runs while another error is being reported).
CREATE FUNCTION vex_shard_disconnect(d text, conns text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c text;
BEGIN
  FOREACH c IN ARRAY conns LOOP
    BEGIN
      EXECUTE format('SELECT %s.dblink_disconnect(%L) WHERE %L = ANY (coalesce(%s.dblink_get_connections(), %L))',
                     d, c, c, d, '{}');
    EXCEPTION WHEN OTHERS THEN
      NULL;
    END;
  END LOOP;
END $$;
