-- SPDX-License-Identifier: Apache-2.0
-- vexdb 0.1: the vexvector type, its distance operators and the vexhnsw
-- index access method (docs/postgres.md).

\echo Use "CREATE EXTENSION vexdb" to load this file. \quit

-- ---- the type ----

CREATE TYPE vexvector;

CREATE FUNCTION vexvector_in(cstring, oid, integer) RETURNS vexvector
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexvector_out(vexvector) RETURNS cstring
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexvector_typmod_in(cstring[]) RETURNS integer
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexvector_recv(internal, oid, integer) RETURNS vexvector
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexvector_send(vexvector) RETURNS bytea
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE vexvector (
  INPUT = vexvector_in,
  OUTPUT = vexvector_out,
  TYPMOD_IN = vexvector_typmod_in,
  RECEIVE = vexvector_recv,
  SEND = vexvector_send,
  STORAGE = external
);

-- ---- casts ----

CREATE FUNCTION vexvector(vexvector, integer, boolean) RETURNS vexvector
  AS 'MODULE_PATHNAME', 'vexvector_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vexvector(real[], integer, boolean) RETURNS vexvector
  AS 'MODULE_PATHNAME', 'vexvector_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vexvector(double precision[], integer, boolean) RETURNS vexvector
  AS 'MODULE_PATHNAME', 'vexvector_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_vexvector(integer[], integer, boolean) RETURNS vexvector
  AS 'MODULE_PATHNAME', 'vexvector_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexvector_to_float4(vexvector, integer, boolean) RETURNS real[]
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (vexvector AS vexvector) WITH FUNCTION vexvector(vexvector, integer, boolean) AS IMPLICIT;
CREATE CAST (real[] AS vexvector) WITH FUNCTION array_to_vexvector(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS vexvector) WITH FUNCTION array_to_vexvector(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS vexvector) WITH FUNCTION array_to_vexvector(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (vexvector AS real[]) WITH FUNCTION vexvector_to_float4(vexvector, integer, boolean) AS IMPLICIT;

-- ---- functions and operators ----

CREATE FUNCTION l2_distance(vexvector, vexvector) RETURNS double precision
  AS 'MODULE_PATHNAME', 'vexvector_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(vexvector, vexvector) RETURNS double precision
  AS 'MODULE_PATHNAME', 'vexvector_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION negative_inner_product(vexvector, vexvector) RETURNS double precision
  AS 'MODULE_PATHNAME', 'vexvector_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(vexvector, vexvector) RETURNS double precision
  AS 'MODULE_PATHNAME', 'vexvector_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_dims(vexvector) RETURNS integer
  AS 'MODULE_PATHNAME', 'vexvector_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_norm(vexvector) RETURNS double precision
  AS 'MODULE_PATHNAME', 'vexvector_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexdb_simd() RETURNS text
  AS 'MODULE_PATHNAME', 'vexdb_simd' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <-> (
  LEFTARG = vexvector, RIGHTARG = vexvector, FUNCTION = l2_distance,
  COMMUTATOR = '<->'
);
CREATE OPERATOR <#> (
  LEFTARG = vexvector, RIGHTARG = vexvector, FUNCTION = negative_inner_product,
  COMMUTATOR = '<#>'
);
CREATE OPERATOR <=> (
  LEFTARG = vexvector, RIGHTARG = vexvector, FUNCTION = cosine_distance,
  COMMUTATOR = '<=>'
);

-- ---- the vexhnsw index access method ----

CREATE FUNCTION vexhnsw_handler(internal) RETURNS index_am_handler
  AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE ACCESS METHOD vexhnsw TYPE INDEX HANDLER vexhnsw_handler;
COMMENT ON ACCESS METHOD vexhnsw IS 'VexDB HNSW graph index for vexvector';

CREATE FUNCTION vexhnsw_metric_l2(internal) RETURNS integer
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexhnsw_metric_ip(internal) RETURNS integer
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vexhnsw_metric_cosine(internal) RETURNS integer
  AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS vexvector_l2_ops DEFAULT FOR TYPE vexvector USING vexhnsw AS
  OPERATOR 1 <-> (vexvector, vexvector) FOR ORDER BY float_ops,
  FUNCTION 1 vexhnsw_metric_l2(internal);
CREATE OPERATOR CLASS vexvector_ip_ops FOR TYPE vexvector USING vexhnsw AS
  OPERATOR 1 <#> (vexvector, vexvector) FOR ORDER BY float_ops,
  FUNCTION 1 vexhnsw_metric_ip(internal);
CREATE OPERATOR CLASS vexvector_cosine_ops FOR TYPE vexvector USING vexhnsw AS
  OPERATOR 1 <=> (vexvector, vexvector) FOR ORDER BY float_ops,
  FUNCTION 1 vexhnsw_metric_cosine(internal);

-- Structural check of a vexhnsw index (docs/postgres.md).
CREATE FUNCTION vexhnsw_check(index regclass, OUT live bigint, OUT deleted bigint,
                              OUT unreachable bigint, OUT max_level integer)
  AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
-- like amcheck's functions: for superusers unless granted
REVOKE ALL ON FUNCTION vexhnsw_check(regclass) FROM PUBLIC;
