package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// The apply phase of a sync run: set-based statements, run in one transaction in the order
// the engine calls them, that turn a run's staged listing into the cache, its matches, the
// users it creates or deactivates and the profile values it maps. Each statement writes only
// rows that change, and reports what it changed into the transaction's sync_report table,
// which becomes the run's change report.

// matchedSQL lists the outcomes that link a record to a user.
const matchedSQL = "('matched_exact', 'matched_probable', 'manual')"

// PrepareApply creates the transaction's working tables: sync_incoming, the staged listing
// (one row per external id, the last one listed winning) joined with what the cache holds,
// and the empty sync_report. It returns how many records came in.
func PrepareApply(ctx context.Context, tx bun.Tx, runID, connectorID uuid.UUID, rt string) (int, error) {
	// JIT compilation pays off for long CPU-bound queries. These statements move rows, and
	// their estimates (temporary tables, rows this transaction inserted) cross jit_above_cost
	// whether they move many or none: compiling took up to 0.9 s a statement, longer than
	// running it. The setting ends with the transaction.
	if _, err := tx.ExecContext(ctx, `SET LOCAL jit = off`); err != nil {
		return 0, fmt.Errorf("prepare the apply transaction: %w", err)
	}
	_, err := tx.NewRaw(`CREATE TEMP TABLE sync_incoming ON COMMIT DROP AS
		SELECT DISTINCT ON (s.external_id) s.external_id, s.username, s.email, s.display_name, s.attributes, s.hash,
		       r.id AS resource_id, r.hash AS old_hash, r.stale_since AS old_stale
		FROM ? s
		LEFT JOIN sync_resources r ON r.connector_id = ? AND r.resource_type = ? AND r.external_id = s.external_id
		ORDER BY s.external_id, s.seq DESC`, bun.Ident(StagingTable(runID)), connectorID, rt).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prepare incoming records: %w", err)
	}
	// Temporary tables have no statistics until analysed; the joins below need them to pick
	// hash joins over nested loops at directory scale.
	if _, err := tx.ExecContext(ctx, `ANALYZE sync_incoming`); err != nil {
		return 0, fmt.Errorf("analyse incoming records: %w", err)
	}
	_, err = tx.ExecContext(ctx, `CREATE TEMP TABLE sync_report (
		id bigserial, kind text NOT NULL, resource_id uuid, external_id text NOT NULL,
		display_name text NOT NULL DEFAULT '', user_id uuid, detail jsonb NOT NULL DEFAULT '{}') ON COMMIT DROP`)
	if err != nil {
		return 0, fmt.Errorf("prepare change report: %w", err)
	}
	var n int
	if err := tx.NewRaw("SELECT count(*) FROM sync_incoming").Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count incoming records: %w", err)
	}
	return n, nil
}

func rowsOf(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// WriteAdded stores the records the cache did not hold; users start unmatched.
func WriteAdded(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, rt string, now time.Time) (int, error) {
	var status *string
	if rt == "user" {
		s := "unmatched"
		status = &s
	}
	return rowsOf(tx.NewRaw(`WITH ins AS (
		INSERT INTO sync_resources (connector_id, resource_type, external_id, username, email, display_name,
		    attributes, hash, first_seen_at, synced_at, match_status)
		SELECT ?, ?, external_id, username, email, display_name, attributes, hash, ?, ?, ?
		FROM sync_incoming WHERE resource_id IS NULL
		RETURNING id, external_id, display_name)
		INSERT INTO sync_report (kind, resource_id, external_id, display_name)
		SELECT 'added', id, external_id, display_name FROM ins`, connectorID, rt, now, now, status).Exec(ctx))
}

// WriteUpdated rewrites the cached records whose hash changed or that were stale, reporting
// which fields changed.
func WriteUpdated(ctx context.Context, tx bun.Tx, now time.Time) (int, error) {
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_report (kind, resource_id, external_id, display_name, user_id, detail)
		SELECT 'updated', r.id, i.external_id, i.display_name, r.user_id, jsonb_build_object(
		    'fields', to_jsonb(array_remove(ARRAY[
		        CASE WHEN r.username IS DISTINCT FROM i.username THEN 'username' END,
		        CASE WHEN r.email IS DISTINCT FROM i.email THEN 'email' END,
		        CASE WHEN r.display_name IS DISTINCT FROM i.display_name THEN 'displayName' END
		    ] || ARRAY(
		        SELECT 'attributes.' || coalesce(n.key, o.key)
		        FROM jsonb_each(i.attributes) n FULL JOIN jsonb_each(r.attributes) o ON n.key = o.key
		        WHERE n.value IS DISTINCT FROM o.value ORDER BY 1), NULL)),
		    'restored', i.old_stale IS NOT NULL)
		FROM sync_incoming i JOIN sync_resources r ON r.id = i.resource_id
		WHERE i.old_hash <> i.hash OR i.old_stale IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("report updated records: %w", err)
	}
	return rowsOf(tx.NewRaw(`UPDATE sync_resources r SET username = i.username, email = i.email,
		    display_name = i.display_name, attributes = i.attributes, hash = i.hash, synced_at = ?, stale_since = NULL
		FROM sync_incoming i WHERE r.id = i.resource_id AND (i.old_hash <> i.hash OR i.old_stale IS NOT NULL)`, now).Exec(ctx))
}

// MarkStale marks the live records of a (connector, resource type) that did not come in as
// stale; with externalID only that record.
func MarkStale(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, rt string, externalID *string, now time.Time) (int, error) {
	only := ""
	args := []any{now, connectorID, rt}
	if externalID != nil {
		only = "AND r.external_id = ?"
		args = append(args, *externalID)
	} else {
		// Every record that came in is live by now (added, updated or restored), so when the
		// connector holds no more live records than came in, none is stale. Most full runs
		// end here. The anti-join below has no good plan while sync_resources has no
		// statistics of the connector (its first runs, before autovacuum analyses what they
		// committed): the planner expects one live record and scans sync_incoming once per
		// record, hours for 100,000. An index on sync_incoming bounds that plan to one probe
		// per record.
		var more bool
		err := tx.NewRaw(`SELECT (SELECT count(*) FROM sync_resources
		    WHERE connector_id = ? AND resource_type = ? AND stale_since IS NULL) > (SELECT count(*) FROM sync_incoming)`,
			connectorID, rt).Scan(ctx, &more)
		if err != nil {
			return 0, fmt.Errorf("count live records: %w", err)
		}
		if !more {
			return 0, nil
		}
		if _, err := tx.ExecContext(ctx, `CREATE UNIQUE INDEX ON sync_incoming (external_id)`); err != nil {
			return 0, fmt.Errorf("index incoming records: %w", err)
		}
	}
	return rowsOf(tx.NewRaw(`WITH st AS (
		UPDATE sync_resources r SET stale_since = ?
		WHERE r.connector_id = ? AND r.resource_type = ? AND r.stale_since IS NULL `+only+`
		  AND NOT EXISTS (SELECT 1 FROM sync_incoming i WHERE i.external_id = r.external_id)
		RETURNING r.id, r.external_id, r.display_name,
		    CASE WHEN r.match_status IN `+matchedSQL+` THEN r.user_id END AS user_id)
		INSERT INTO sync_report (kind, resource_id, external_id, display_name, user_id)
		SELECT 'stale', id, external_id, display_name, user_id FROM st`, args...).Exec(ctx))
}

// PurgeStale deletes the records of a (connector, resource type) stale since before cutoff.
func PurgeStale(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, rt string, cutoff time.Time) (int, error) {
	return rowsOf(tx.NewRaw(`WITH p AS (
		DELETE FROM sync_resources WHERE connector_id = ? AND resource_type = ? AND stale_since <= ?
		RETURNING id, external_id, display_name, user_id)
		INSERT INTO sync_report (kind, resource_id, external_id, display_name, user_id)
		SELECT 'purged', id, external_id, display_name, user_id FROM p`, connectorID, rt, cutoff).Exec(ctx))
}

// MatchRule is one user match strategy as SQL sees it.
type MatchRule struct {
	Strategy string
	// IssuerKeys is the path under attributes of the record's issuer (email_issuer), or
	// IssuerField the record's own field that holds it.
	IssuerField string
	IssuerKeys  []string
}

// issuerExpr is the SQL value of a record's issuer.
func (m MatchRule) issuerExpr(alias string) (string, []any) {
	return PathExpr(alias, m.IssuerField, m.IssuerKeys)
}

// PathExpr is the SQL text value of a record path (a top-level field, or keys under
// attributes, where a list stands for its first element).
func PathExpr(alias, field string, keys []string) (string, []any) {
	switch field {
	case "externalId":
		return alias + ".external_id", nil
	case "username":
		return alias + ".username", nil
	case "email":
		return alias + ".email", nil
	case "displayName":
		return alias + ".display_name", nil
	}
	k := pgdialect.Array(keys)
	return fmt.Sprintf("coalesce(%[1]s.attributes #>> (?::text[] || '{0}'), %[1]s.attributes #>> ?::text[])", alias), []any{k, k}
}

func (m MatchRule) join() (string, []any) {
	switch m.Strategy {
	case "email_issuer":
		expr, args := m.issuerExpr("r")
		return "r.email <> '' AND lower(u.email) = lower(r.email) AND u.upstream_issuer = " + expr, args
	case "upstream_identity":
		return "u.upstream_id = r.external_id", nil
	case "external_id":
		return "u.sub = r.external_id", nil
	}
	return "r.email <> '' AND lower(u.email) = lower(r.email)", nil
}

// undecided selects the live user records of a connector that the matcher may (re)match:
// admins' decisions (manual, skipped) are never touched.
const undecided = `r.connector_id = ? AND r.resource_type = 'user' AND r.stale_since IS NULL
	AND coalesce(r.match_status, 'unmatched') NOT IN ('manual', 'skipped')`

// MatchUsers matches every undecided live user record of a connector to Floh users, trying
// the rules in order until one finds anyone: one user is a match (exact by the first rule,
// probable by a fallback), several are ambiguous, none unmatched. Only changed matches are
// written and reported.
func MatchUsers(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, rules []MatchRule) (int, error) {
	_, err := tx.ExecContext(ctx, `CREATE TEMP TABLE sync_match (id uuid PRIMARY KEY, cands uuid[] NOT NULL, k int NOT NULL) ON COMMIT DROP`)
	if err != nil {
		return 0, fmt.Errorf("prepare matching: %w", err)
	}
	names := make([]string, len(rules))
	for k, rule := range rules {
		names[k] = rule.Strategy
		cond, args := rule.join()
		args = append(append([]any{k}, args...), connectorID)
		_, err := tx.NewRaw(`INSERT INTO sync_match (id, cands, k)
			SELECT r.id, array_agg(u.id ORDER BY u.created_at, u.id), ?
			FROM sync_resources r JOIN users u ON `+cond+`
			WHERE `+undecided+` AND u.deleted_at IS NULL AND u.active
			  AND NOT EXISTS (SELECT 1 FROM sync_match m WHERE m.id = r.id)
			GROUP BY r.id`, args...).Exec(ctx)
		if err != nil {
			return 0, fmt.Errorf("match by %s: %w", rule.Strategy, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `ANALYZE sync_match`); err != nil {
		return 0, fmt.Errorf("analyse matches: %w", err)
	}
	// Two updates, each a single pass: the records something matched, driven by sync_match,
	// and the undecided records nothing matched that are not plainly unmatched already. One
	// update of every undecided record joined to itself took 4.8 s for a connector's first
	// 1,000,000 records to write nothing: without statistics of them (they were inserted by
	// this transaction) the planner looks each one up by id.
	strategies := pgdialect.Array(names)
	return rowsOf(tx.NewRaw(`WITH found AS (
		UPDATE sync_resources r SET match_status = w.status, user_id = w.user_id, candidates = w.cands, matched_by = w.strategy
		FROM (SELECT m.id,
		        CASE WHEN cardinality(m.cands) > 1 THEN 'ambiguous' WHEN m.k = 0 THEN 'matched_exact' ELSE 'matched_probable' END AS status,
		        CASE WHEN cardinality(m.cands) = 1 THEN m.cands[1] END AS user_id,
		        m.cands, (?::text[])[m.k + 1] AS strategy
		    FROM sync_match m) w
		WHERE r.id = w.id AND (r.match_status, r.user_id, r.candidates, r.matched_by) IS DISTINCT FROM (w.status, w.user_id, w.cands, w.strategy)
		RETURNING r.id, r.external_id, r.display_name, r.match_status, r.user_id, r.matched_by, cardinality(r.candidates) AS n),
		none AS (
		UPDATE sync_resources r SET match_status = 'unmatched', user_id = NULL, candidates = '{}', matched_by = NULL
		WHERE `+undecided+`
		  AND (r.match_status, r.user_id, r.candidates, r.matched_by) IS DISTINCT FROM ('unmatched'::text, NULL::uuid, '{}'::uuid[], NULL::text)
		  AND NOT EXISTS (SELECT 1 FROM sync_match m WHERE m.id = r.id)
		RETURNING r.id, r.external_id, r.display_name, r.match_status, r.user_id, r.matched_by, cardinality(r.candidates) AS n)
		INSERT INTO sync_report (kind, resource_id, external_id, display_name, user_id, detail)
		SELECT CASE WHEN match_status LIKE 'matched%' THEN 'matched' ELSE match_status END, id, external_id, display_name, user_id,
		    jsonb_strip_nulls(jsonb_build_object('status', match_status, 'strategy', matched_by, 'candidates', n))
		FROM (SELECT * FROM found UNION ALL SELECT * FROM none) upd`, strategies, connectorID).Exec(ctx))
}

// NewUserDefaults are the profile values of users a sync creates.
type NewUserDefaults struct {
	Title, Department, Location, CostCenter, StartDate *string
	Custom                                             []byte // a JSON object
}

// CreateSyncUsers creates an unconfirmed user for every live unmatched user record of a
// connector that has an email (and, for email_issuer, an issuer), links the record to it as
// an exact match by the primary rule, and returns how many it created. The user carries what
// the primary rule matches on, so the next run finds the same user: upstream_issuer from the
// issuer path, upstream_id the external id, and for external_id matching the external id as
// its sub.
func CreateSyncUsers(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, primary MatchRule, d NewUserDefaults, now time.Time) (int, error) {
	issuer, issuerArgs := primary.issuerExpr("r")
	// The arguments in the order the statement reads them: the select list, the WHERE
	// clause, then the inserts.
	args := append(append([]any{}, issuerArgs...), connectorID)
	extra := ""
	switch primary.Strategy {
	case "email_issuer":
		extra = "AND coalesce(" + issuer + ", '') <> ''"
		args = append(args, issuerArgs...)
	case "external_id":
		extra = "AND NOT EXISTS (SELECT 1 FROM users x WHERE x.iss = '-' AND x.sub = r.external_id AND x.deleted_at IS NULL)"
	}
	custom := d.Custom
	if custom == nil {
		custom = []byte("{}")
	}
	args = append(args, primary.Strategy == "external_id", now, now,
		d.Title, d.Department, d.Location, d.CostCenter, d.StartDate, string(custom), now, primary.Strategy)
	return rowsOf(tx.NewRaw(`WITH src AS MATERIALIZED (
		    SELECT r.id AS rid, gen_random_uuid() AS uid, r.email, r.display_name, r.external_id, `+issuer+` AS issuer
		    FROM sync_resources r
		    WHERE r.connector_id = ? AND r.resource_type = 'user' AND r.stale_since IS NULL
		      AND r.match_status = 'unmatched' AND r.email <> '' `+extra+`),
		ins AS (
		    INSERT INTO users (id, iss, sub, email, display_name, confirmed, upstream_issuer, upstream_id, active, created_at, updated_at)
		    SELECT uid, '-', CASE WHEN ? THEN external_id ELSE gen_random_uuid()::text END, email, display_name, false,
		        nullif(issuer, ''), external_id, true, ?, ?
		    FROM src RETURNING id),
		prof AS (
		    INSERT INTO user_profiles (user_id, title, department, location, cost_center, start_date, custom, attribute_sources, updated_at)
		    SELECT id, ?, ?, ?, ?, ?::date, ?::jsonb, '{}', ? FROM ins),
		upd AS (
		    UPDATE sync_resources r SET match_status = 'matched_exact', user_id = src.uid, candidates = ARRAY[src.uid], matched_by = ?
		    FROM src WHERE r.id = src.rid
		    RETURNING r.id, r.external_id, r.display_name, r.user_id)
		INSERT INTO sync_report (kind, resource_id, external_id, display_name, user_id)
		SELECT 'created', id, external_id, display_name, user_id FROM upd`, args...).Exec(ctx))
}

// CountUnmatchedWithoutEmail counts the live unmatched user records of a connector that have
// no email, which Create users cannot create anyone for.
func CountUnmatchedWithoutEmail(ctx context.Context, tx bun.Tx, connectorID uuid.UUID) (int, error) {
	var n int
	err := tx.NewRaw(`SELECT count(*) FROM sync_resources WHERE connector_id = ? AND resource_type = 'user'
		AND stale_since IS NULL AND match_status = 'unmatched' AND email = ''`, connectorID).Scan(ctx, &n)
	if err != nil {
		return 0, fmt.Errorf("count records without email: %w", err)
	}
	return n, nil
}

// SyncIdentities makes the connector_sync external identities of a connector those of its
// matched user records: it removes the ones no record matches any more, and writes those of
// the records this run changed or matched. A record this run added has no user unless it
// was matched or created one, which the report says too, so added lines are not looked at:
// an initial sync of a million records would otherwise look each one up to find no user.
func SyncIdentities(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, now time.Time) error {
	_, err := tx.NewRaw(`DELETE FROM external_identities ei
		WHERE ei.connector_id = ? AND ei.source = 'connector_sync'
		  AND NOT EXISTS (SELECT 1 FROM sync_resources r WHERE r.connector_id = ei.connector_id
		      AND r.resource_type = 'user' AND r.external_id = ei.external_id AND r.user_id = ei.user_id
		      AND r.match_status IN `+matchedSQL+`)`, connectorID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("remove unmatched identities: %w", err)
	}
	_, err = tx.NewRaw(`INSERT INTO external_identities AS ei (user_id, connector_id, external_id, external_email,
		    external_display_name, source, attributes, verified_at, created_at, updated_at)
		SELECT r.user_id, r.connector_id, r.external_id, nullif(r.email, ''), nullif(r.display_name, ''),
		    'connector_sync', r.attributes, ?, ?, ?
		FROM sync_resources r
		WHERE r.id IN (SELECT resource_id FROM sync_report WHERE kind IN ('updated', 'matched', 'created'))
		  AND r.resource_type = 'user' AND r.user_id IS NOT NULL AND r.match_status IN `+matchedSQL+`
		ON CONFLICT (user_id, connector_id, external_id) DO UPDATE SET
		    external_email = EXCLUDED.external_email, external_display_name = EXCLUDED.external_display_name,
		    attributes = EXCLUDED.attributes, verified_at = EXCLUDED.verified_at, updated_at = EXCLUDED.updated_at
		WHERE (ei.external_email, ei.external_display_name, ei.attributes)
		    IS DISTINCT FROM (EXCLUDED.external_email, EXCLUDED.external_display_name, EXCLUDED.attributes)`,
		now, now, now).Exec(ctx)
	if err != nil {
		return fmt.Errorf("write matched identities: %w", err)
	}
	return nil
}

// DeactivateSyncUsers soft-deletes the users whose matched record this run staled, unless
// another live record of any connector still matches them. Admins are never deactivated by
// a sync, so a bad upstream cannot lock everyone out.
func DeactivateSyncUsers(ctx context.Context, tx bun.Tx, now time.Time) (int, error) {
	return rowsOf(tx.NewRaw(`WITH d AS (
		UPDATE users u SET deleted_at = ?, updated_at = ?
		WHERE u.id IN (SELECT user_id FROM sync_report WHERE kind = 'stale' AND user_id IS NOT NULL)
		  AND u.deleted_at IS NULL
		  AND NOT EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id AND ur.role = 'Admin')
		  AND NOT EXISTS (SELECT 1 FROM sync_resources r WHERE r.user_id = u.id AND r.stale_since IS NULL
		      AND r.match_status IN `+matchedSQL+`)
		RETURNING u.id, u.email)
		INSERT INTO sync_report (kind, resource_id, external_id, display_name, user_id, detail)
		SELECT 'deactivated', s.resource_id, s.external_id, s.display_name, d.id, jsonb_build_object('email', d.email)
		FROM d JOIN LATERAL (SELECT resource_id, external_id, display_name FROM sync_report x
		    WHERE x.kind = 'stale' AND x.user_id = d.id ORDER BY x.id LIMIT 1) s ON true`, now, now).Exec(ctx))
}

// MappingTarget is where an attribute mapping writes.
type MappingTarget struct {
	Name   string // the field as the API names it: title, costCenter, custom.badge
	Column string // the user_profiles column; "" for a custom attribute
	Custom string // the custom attribute's name
	Date   bool   // start_date takes dates
}

// ApplyMapping writes one attribute mapping into the profiles of the users that live records
// of a connector match, as writeMode says, and records the connector as the field's source.
// A record without a value writes nothing.
func ApplyMapping(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, field string, keys []string, t MappingTarget, ifEmpty bool, now time.Time) (int, error) {
	val, valArgs := PathExpr("r", field, keys)
	var insertCol, insertVal, set, cur, newVal string
	if t.Column != "" {
		cast := "vals.v"
		if t.Date {
			cast = "floh_try_date(vals.v)"
		}
		insertCol, insertVal = t.Column+", custom", cast+", '{}'"
		set = t.Column + " = EXCLUDED." + t.Column
		cur, newVal = "p."+t.Column, "EXCLUDED."+t.Column
	} else {
		name := "'" + t.Custom + "'" // the name is checked against ^[A-Za-z][A-Za-z0-9_]*$ by the config
		insertCol, insertVal = "custom", "jsonb_build_object("+name+", to_jsonb(vals.v))"
		set = "custom = p.custom || jsonb_build_object(" + name + ", EXCLUDED.custom -> " + name + ")"
		cur, newVal = "(p.custom -> "+name+")", "(EXCLUDED.custom -> "+name+")"
	}
	guard := cur + " IS DISTINCT FROM " + newVal
	if ifEmpty {
		guard += " AND (" + cur + " IS NULL OR btrim(" + strings.Replace(cur, "->", "->>", 1) + "::text) = '')"
	}
	if t.Date {
		guard += " AND " + newVal + " IS NOT NULL"
	}
	args := append(append([]any{}, valArgs...), connectorID, t.Name, connectorID.String(), now, now, t.Name)
	return rowsOf(tx.NewRaw(`WITH vals AS MATERIALIZED (
		    SELECT DISTINCT ON (r.user_id) r.user_id, r.id AS rid, r.external_id, r.display_name, `+val+` AS v
		    FROM sync_resources r JOIN users u ON u.id = r.user_id AND u.deleted_at IS NULL
		    WHERE r.connector_id = ? AND r.resource_type = 'user' AND r.stale_since IS NULL
		      AND r.match_status IN `+matchedSQL+`
		    ORDER BY r.user_id, r.synced_at DESC, r.id),
		up AS (
		    INSERT INTO user_profiles AS p (user_id, `+insertCol+`, attribute_sources, updated_at)
		    SELECT vals.user_id, `+insertVal+`, jsonb_build_object(?::text, jsonb_build_object('source', ?::text, 'at', ?::timestamptz)), ?
		    FROM vals WHERE vals.v IS NOT NULL AND btrim(vals.v) <> ''
		    ON CONFLICT (user_id) DO UPDATE SET `+set+`,
		        attribute_sources = p.attribute_sources || EXCLUDED.attribute_sources, updated_at = EXCLUDED.updated_at
		    WHERE `+guard+`
		    RETURNING p.user_id)
		INSERT INTO sync_report (kind, resource_id, external_id, display_name, user_id, detail)
		SELECT 'mapped', vals.rid, vals.external_id, vals.display_name, up.user_id, jsonb_build_object('field', ?::text, 'value', vals.v)
		FROM up JOIN vals ON vals.user_id = up.user_id`, args...).Exec(ctx))
}

// CountMatchStatuses counts the live user records of a connector by match outcome.
func CountMatchStatuses(ctx context.Context, idb bun.IDB, connectorID uuid.UUID) (map[string]int, error) {
	var rows []struct {
		Status string `bun:"match_status"`
		N      int    `bun:"n"`
	}
	err := idb.NewRaw(`SELECT match_status, count(*) AS n FROM sync_resources
		WHERE connector_id = ? AND resource_type = 'user' AND stale_since IS NULL GROUP BY 1`, connectorID).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count match outcomes: %w", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// ReportedRecord is a record this run added or updated, for post-sync workflows.
type ReportedRecord struct {
	Kind        string     `bun:"kind"`
	ExternalID  string     `bun:"external_id"`
	Username    string     `bun:"username"`
	Email       string     `bun:"email"`
	DisplayName string     `bun:"display_name"`
	Attributes  []byte     `bun:"attributes"`
	UserID      *uuid.UUID `bun:"user_id"`
}

// CountChangedRecords counts the records this run added or updated.
func CountChangedRecords(ctx context.Context, tx bun.Tx) (int, error) {
	var n int
	if err := tx.NewRaw(`SELECT count(*) FROM sync_report WHERE kind IN ('added', 'updated')`).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count changed records: %w", err)
	}
	return n, nil
}

// ListChangedRecords returns up to limit of the records this run added or updated, in the
// order it reported them, after the report line after.
func ListChangedRecords(ctx context.Context, tx bun.Tx, after int64, limit int) ([]ReportedRecord, int64, error) {
	var rows []struct {
		ReportedRecord
		ID int64 `bun:"id"`
	}
	err := tx.NewRaw(`SELECT s.id, s.kind, r.external_id, r.username, r.email, r.display_name, r.attributes,
		    CASE WHEN r.match_status IN `+matchedSQL+` THEN r.user_id END AS user_id
		FROM sync_report s JOIN sync_resources r ON r.id = s.resource_id
		WHERE s.kind IN ('added', 'updated') AND s.id > ? ORDER BY s.id LIMIT ?`, after, limit).Scan(ctx, &rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list changed records: %w", err)
	}
	out := make([]ReportedRecord, len(rows))
	last := after
	for i, r := range rows {
		out[i], last = r.ReportedRecord, r.ID
	}
	return out, last, nil
}

// CountReport counts the lines of this run's change report by kind.
func CountReport(ctx context.Context, tx bun.Tx) (map[string]int, error) {
	var rows []struct {
		Kind string `bun:"kind"`
		N    int    `bun:"n"`
	}
	if err := tx.NewRaw(`SELECT kind, count(*) AS n FROM sync_report GROUP BY 1`).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("count the change report: %w", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Kind] = r.N
	}
	return out, nil
}

// SaveReport keeps this run's change report.
func SaveReport(ctx context.Context, tx bun.Tx, runID uuid.UUID) error {
	_, err := tx.NewRaw(`INSERT INTO sync_changes (run_id, kind, resource_id, external_id, display_name, user_id, detail)
		SELECT ?, kind, resource_id, external_id, display_name, user_id, detail FROM sync_report ORDER BY id`, runID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("save the change report: %w", err)
	}
	return nil
}

// ReportRows opens this run's change report for CopySyncChanges.
func ReportRows(ctx context.Context, tx bun.Tx) (*sql.Rows, error) {
	rows, err := tx.QueryContext(ctx, `SELECT kind, resource_id, external_id, display_name, user_id, detail::text
		FROM sync_report ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read the change report: %w", err)
	}
	return rows, nil
}
