package handlers

import (
	"net/http"
	"strings"

	"floh/connectors"
	"floh/db"
	"floh/engine"
)

func connectorFilter(r *http.Request) (db.ConnectorFilter, error) {
	p, err := listPage(r)
	if err != nil {
		return db.ConnectorFilter{}, err
	}
	deleted, err := boolParam(r, "includeDeleted")
	if err != nil {
		return db.ConnectorFilter{}, err
	}
	q := r.URL.Query()
	return db.ConnectorFilter{
		Q: strings.TrimSpace(q.Get("q")), Type: strings.TrimSpace(q.Get("type")), IncludeDeleted: deleted, Page: p,
	}, nil
}

func (s *Server) listConnectorTypesAPI(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string][]*connectors.Type{"items": s.engine.ConnectorTypes()})
}

func (s *Server) listConnectorsAPI(w http.ResponseWriter, r *http.Request) error {
	f, err := connectorFilter(r)
	if err != nil {
		return err
	}
	cs, total, err := s.engine.ListConnectors(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(cs, total, f.Page))
}

func (s *Server) createConnectorAPI(w http.ResponseWriter, r *http.Request) error {
	var in engine.ConnectorInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	c, err := s.engine.CreateConnector(r.Context(), principalFrom(r).Actor(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) showConnectorAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.engine.FindConnector(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) updateConnectorAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in engine.ConnectorInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	c, err := s.engine.UpdateConnector(r.Context(), principalFrom(r).Actor(), id, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) deleteConnectorAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.engine.DeleteConnector(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) restoreConnectorAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.engine.RestoreConnector(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

// testConnectorAPI answers 200 whether or not the test passed: a failed test is a result.
func (s *Server) testConnectorAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	out, err := s.engine.TestConnector(r.Context(), principalFrom(r).Actor(), id, engine.SourceTest)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// executeConnectorAPI answers 200 for a failed command too; only a bad request body is 4xx.
func (s *Server) executeConnectorAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in engine.ExecuteInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	res, err := s.engine.ExecuteConnector(r.Context(), principalFrom(r).Actor(), id, in, engine.SourceConsole)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) listExecutionsAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := listPage(r)
	if err != nil {
		return err
	}
	xs, total, err := s.engine.ListExecutions(r.Context(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(xs, total, p))
}

func (s *Server) rotateKeysAPI(w http.ResponseWriter, r *http.Request) error {
	res, err := s.engine.RotateConnectorKeys(r.Context(), principalFrom(r).Actor())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
