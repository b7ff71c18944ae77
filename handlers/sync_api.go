package handlers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/db"
	"floh/engine"
	"floh/engine/sync"
)

// The resource sync API (api.md "Resource sync"): configuration, runs and their change
// reports, the synced records and the review of their matches.

// syncTarget reads the connector id and the resource type of a sync route. A resource type
// other than user or group names nothing, so it is a 404 that says which it was.
func syncTarget(r *http.Request) (uuid.UUID, string, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return uuid.Nil, "", err
	}
	rt := r.PathValue("rt")
	if rt == "" {
		// The match review's routes name the user resource type in their pattern.
		rt = connectors.ResourceUser
	}
	if rt != connectors.ResourceUser && rt != connectors.ResourceGroup {
		return uuid.Nil, "", &notFoundError{fmt.Sprintf("there is no resource type %q to sync: use user or group", rt)}
	}
	return id, rt, nil
}

func (s *Server) showSyncConfigAPI(w http.ResponseWriter, r *http.Request) error {
	id, rt, err := syncTarget(r)
	if err != nil {
		return err
	}
	cfg, err := s.engine.SyncConfig(r.Context(), id, rt)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cfg)
}

// saveSyncConfigAPI replaces the whole configuration: omitted fields take their defaults.
func (s *Server) saveSyncConfigAPI(w http.ResponseWriter, r *http.Request) error {
	id, rt, err := syncTarget(r)
	if err != nil {
		return err
	}
	var in sync.Config
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	cfg, err := s.engine.SaveSyncConfig(r.Context(), principalFrom(r).Actor(), id, rt, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cfg)
}

// startSyncAPI answers 202 once the run row is committed; the run goes on in the background.
func (s *Server) startSyncAPI(w http.ResponseWriter, r *http.Request) error {
	id, rt, err := syncTarget(r)
	if err != nil {
		return err
	}
	// The body is optional: a bare POST runs with the configured strategy.
	var in engine.SyncStart
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	run, err := s.engine.StartSync(r.Context(), principalFrom(r).Actor(), id, rt, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/sync-runs/"+run.ID.String())
	return writeJSON(w, http.StatusAccepted, map[string]uuid.UUID{"runId": run.ID})
}

func (s *Server) listSyncRunsAPI(w http.ResponseWriter, r *http.Request) error {
	id, rt, err := syncTarget(r)
	if err != nil {
		return err
	}
	p, err := listPage(r)
	if err != nil {
		return err
	}
	runs, total, err := s.engine.SyncRuns(r.Context(), id, rt, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(runs, total, p))
}

func (s *Server) showSyncRunAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "runId")
	if err != nil {
		return err
	}
	run, err := s.engine.SyncRun(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

func (s *Server) listSyncChangesAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "runId")
	if err != nil {
		return err
	}
	p, err := listPage(r)
	if err != nil {
		return err
	}
	changes, total, err := s.engine.SyncChanges(r.Context(), id, strings.TrimSpace(r.URL.Query().Get("kind")), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(changes, total, p))
}

// allowSyncAPI answers with the released run, running again until its job finishes it.
func (s *Server) allowSyncAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "runId")
	if err != nil {
		return err
	}
	run, err := s.engine.AllowSync(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

// cancelSyncAPI answers with the run: cancelled at once when it was queued or held, or
// running with cancelRequested until it stops at its next page or phase.
func (s *Server) cancelSyncAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "runId")
	if err != nil {
		return err
	}
	run, err := s.engine.CancelSync(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

// syncRecordAPI syncs one record within the request and answers with the finished run, a
// failed one included: what the connector said is in the run's error.
func (s *Server) syncRecordAPI(w http.ResponseWriter, r *http.Request) error {
	id, rt, err := syncTarget(r)
	if err != nil {
		return err
	}
	var in struct {
		ExternalID string `json:"externalId"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	run, err := s.engine.SyncRecord(r.Context(), principalFrom(r).Actor(), id, rt, strings.TrimSpace(in.ExternalID))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

func (s *Server) listSyncResourcesAPI(w http.ResponseWriter, r *http.Request) error {
	id, rt, err := syncTarget(r)
	if err != nil {
		return err
	}
	p, err := listPage(r)
	if err != nil {
		return err
	}
	var stale *bool
	switch v := r.URL.Query().Get("stale"); v {
	case "":
	case "true", "false":
		b := v == "true"
		stale = &b
	default:
		return engine.Invalid("stale", "must be true (only stale records) or false (only live ones), not %q", v)
	}
	rows, total, err := s.engine.SyncResources(r.Context(), id, rt, strings.TrimSpace(r.URL.Query().Get("q")), stale, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(rows, total, p))
}

func (s *Server) listSyncMatchesAPI(w http.ResponseWriter, r *http.Request) error {
	id, _, err := syncTarget(r)
	if err != nil {
		return err
	}
	p, err := listPage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	items, total, err := s.engine.SyncMatches(r.Context(), id, strings.TrimSpace(q.Get("status")), strings.TrimSpace(q.Get("q")), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(items, total, p))
}

// matchAction is one of the review's decisions about a single record; each answers with the
// record's updated line of the review.
type matchAction func(s *Server, r *http.Request, connectorID, resourceID uuid.UUID) (*db.SyncResource, error)

func (s *Server) decideMatchAPI(act matchAction) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, _, err := syncTarget(r)
		if err != nil {
			return err
		}
		resourceID, err := pathID(r, "resourceId")
		if err != nil {
			return err
		}
		res, err := act(s, r, id, resourceID)
		if err != nil {
			return err
		}
		item, err := s.engine.MatchItemOf(r.Context(), res)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, item)
	}
}

func linkMatch(s *Server, r *http.Request, connectorID, resourceID uuid.UUID) (*db.SyncResource, error) {
	var in struct {
		UserID string `json:"userId"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	userID, err := requiredUUID("userId", in.UserID, "the id of the Floh user to link the record to")
	if err != nil {
		return nil, err
	}
	return s.engine.LinkMatch(r.Context(), principalFrom(r).Actor(), connectorID, resourceID, userID)
}

func skipMatch(s *Server, r *http.Request, connectorID, resourceID uuid.UUID) (*db.SyncResource, error) {
	return s.engine.SkipMatch(r.Context(), principalFrom(r).Actor(), connectorID, resourceID)
}

func unlinkMatch(s *Server, r *http.Request, connectorID, resourceID uuid.UUID) (*db.SyncResource, error) {
	return s.engine.UnlinkMatch(r.Context(), principalFrom(r).Actor(), connectorID, resourceID)
}

func createUserForMatch(s *Server, r *http.Request, connectorID, resourceID uuid.UUID) (*db.SyncResource, error) {
	return s.engine.CreateUserForMatch(r.Context(), principalFrom(r).Actor(), connectorID, resourceID)
}

func (s *Server) bulkSkipMatchesAPI(w http.ResponseWriter, r *http.Request) error {
	id, _, err := syncTarget(r)
	if err != nil {
		return err
	}
	var in struct {
		ResourceIDs []string `json:"resourceIds"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	v := &engine.ValidationError{}
	ids := make([]uuid.UUID, 0, len(in.ResourceIDs))
	for i, raw := range in.ResourceIDs {
		rid, err := uuid.Parse(strings.TrimSpace(raw))
		if err != nil {
			v.Add(fmt.Sprintf("resourceIds[%d]", i), "must be the resourceId of a record (a UUID), not %q", raw)
			continue
		}
		ids = append(ids, rid)
	}
	if err := v.Err(); err != nil {
		return err
	}
	n, err := s.engine.BulkSkipMatches(r.Context(), principalFrom(r).Actor(), id, ids)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"skipped": n})
}

// requiredUUID reads a required id from a JSON body's text field.
func requiredUUID(field, raw, what string) (uuid.UUID, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return uuid.Nil, engine.Invalid(field, "is required: %s", what)
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, engine.Invalid(field, "must be %s (a UUID), not %q", what, raw)
	}
	return id, nil
}
