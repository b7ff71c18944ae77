package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"floh/engine"
	"floh/views"
)

// Workflow documents as files: a download of any version or of the open draft, and an upload
// that creates a workflow or becomes a workflow's draft. There is no API route for either:
// scripts already read documents (GET /api/workflows/{id}/versions/{n}, GET
// /api/workflows/{id}) and write them (POST /api/workflows, PUT /api/workflows/{id}).

const (
	// maxImportBytes bounds an imported file. Real definitions are tens of KiB; the JSON editor
	// and the API take at most maxBody too.
	maxImportBytes = 1 << 20
	// maxUploadBody bounds an import's request. It is well above maxImportBytes so that a file
	// somewhat too large is read through and answered with the form and its message, rather
	// than with a connection the server closes mid-upload.
	maxUploadBody = 16 << 20
)

// Import form fields. They differ from the create form's, which shares /workflows/new.
const (
	importFile     = "file"
	importName     = "importName"
	importReplace  = "replace"
	importDocument = "document" // the file read by the previous post, carried back
	importFilename = "filename" // and its name
)

// exportWorkflow downloads one document of a workflow as a JSON file: the definition,
// indented as the JSON editor shows it, and nothing of the server's (no ids, no dates).
func (s *Server) exportWorkflow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ref := r.URL.Query().Get("version")
	wf, def, err := s.engine.WorkflowDocument(r.Context(), id, ref)
	if err != nil {
		return err
	}
	label := "draft"
	if ref != "draft" {
		n, _ := strconv.Atoi(ref)
		label = "v" + strconv.Itoa(n)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// The slug holds only [a-z0-9-], so the quoted name needs no escaping.
	h.Set("Content-Disposition", `attachment; filename="`+fileSlug(wf.Name)+"-"+label+`.json"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(w, definitionJSON(def)+"\n")
	return err
}

// fileSlug makes a file name from a workflow's name: "Zugänge für Neue" → "zugange-fur-neue".
// Accents are dropped rather than the letters they sit on; anything else becomes a dash.
func fileSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range norm.NFD.String(strings.ToLower(name)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		case unicode.Is(unicode.Mn, c):
		default:
			dash = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	if b.Len() == 0 {
		return "workflow"
	}
	return b.String()
}

// upload is an import form as posted: its text fields, and the chosen file.
type upload struct {
	values   map[string]string
	filename string
	// content is the file; nil when none was chosen or it was too large.
	content  []byte
	tooLarge bool
}

// readUpload reads a multipart import form part by part, so that a file over maxImportBytes
// is noticed without holding it, and the fields before it are kept for the form that says so.
// A form that is not multipart (a client without the file input) has fields and no file.
func readUpload(r *http.Request) (*upload, error) {
	u := &upload{values: map[string]string{}}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "multipart/form-data" {
		if err := r.ParseForm(); err != nil {
			return nil, &badRequest{"the form could not be read"}
		}
		for k := range r.PostForm {
			u.values[k] = r.PostFormValue(k)
		}
		return u, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &badRequest{"the form could not be read"}
	}
	for {
		part, err := mr.NextPart()
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return u, nil
		case errors.As(err, &tooBig):
			// Only a file makes a body this large.
			u.tooLarge, u.content = true, nil
			return u, nil
		case err != nil:
			return nil, &badRequest{"the form could not be read"}
		}
		// Reading one byte more than allowed tells a full file from a cut one; NextPart reads
		// the rest of an oversized part through.
		data, err := io.ReadAll(io.LimitReader(part, maxImportBytes+1))
		if err != nil {
			if errors.As(err, &tooBig) {
				u.tooLarge, u.content = true, nil
				return u, nil
			}
			return nil, &badRequest{"the form could not be read"}
		}
		name := part.FormName()
		switch {
		case name == importFile && part.FileName() == "":
			// The file input with nothing chosen.
		case name == importFile:
			u.filename = part.FileName()
			u.tooLarge = len(data) > maxImportBytes
			if !u.tooLarge {
				u.content = data
			}
		case len(data) <= maxImportBytes:
			u.values[name] = string(data)
		}
	}
}

// importedFile is the document an import form brings: the chosen file, else the one the
// previous post carried back. Problems with it are field errors on the file input.
func importedFile(u *upload) (name string, doc []byte, problems []views.FieldError) {
	name, doc = u.filename, u.content
	if u.tooLarge {
		what := "The file"
		if name != "" {
			what += " " + name
		}
		return name, nil, []views.FieldError{{Field: importFile, Message: what + " is larger than 1 MiB, the most an import takes. " +
			"A workflow definition is rarely over 100 KiB: check that this is the file you exported."}}
	}
	if doc == nil && u.values[importDocument] != "" {
		name, doc = u.values[importFilename], []byte(u.values[importDocument])
	}
	if doc == nil {
		return "", nil, []views.FieldError{{Field: importFile, Message: "Choose a JSON file to import: a workflow definition, as “Download JSON” saves it."}}
	}
	// Editors on Windows often start a UTF-8 file with a byte order mark, which is not JSON.
	doc = bytes.TrimPrefix(doc, []byte("\xEF\xBB\xBF"))
	if len(bytes.TrimSpace(doc)) == 0 {
		return name, nil, []views.FieldError{{Field: importFile, Message: "The file " + name + " is empty: choose the JSON file of a workflow definition."}}
	}
	if problem := syntaxProblem("The file "+name, string(doc)); problem != "" {
		return name, nil, []views.FieldError{{Field: importFile, Message: problem + " Fix it and choose it again."}}
	}
	return name, doc, nil
}

// importProblems puts the engine's refusal beside the import form's fields: the name and the
// confirmation at their inputs, the document's own problems at the file, by path. carry says
// whether the document should come back with the form: only when what is wrong can be fixed
// in the form, since a broken file has to be fixed and chosen again anyway.
func importProblems(err error, filename string) (problems []views.FieldError, carry bool, _ error) {
	var v *engine.ValidationError
	if !errors.As(err, &v) {
		return nil, false, err
	}
	carry = true
	for _, fe := range v.Fields {
		switch fe.Field {
		case "name":
			msg := "Name: " + sentence(fe.Message)
			if strings.Contains(fe.Message, "is required") {
				msg = "Name: the file names no workflow; type a name."
			}
			problems = append(problems, views.FieldError{Field: importName, Message: msg})
		case "replace":
			problems = append(problems, views.FieldError{Field: importReplace,
				Message: "The workflow has an open draft, which the import replaces: tick “Replace the open draft” to confirm."})
		default:
			carry = false
			problems = append(problems, views.FieldError{Field: importFile, Message: filename + ": " + documentProblem(fe)})
		}
	}
	return problems, carry, nil
}

// importForm is the import form as it comes back after a refusal: the typed name and
// confirmation, the problems, and the file carried when only the form was wrong.
func importForm(u *upload, filename string, doc []byte, problems []views.FieldError, carry bool) views.ImportForm {
	f := views.ImportForm{Form: views.Form{
		Values: map[string]string{importName: u.values[importName], importReplace: u.values[importReplace]},
		Errors: problems,
	}}
	if carry && doc != nil {
		f.CarriedName, f.CarriedDocument = filename, string(doc)
	}
	return f
}

// importWorkflow creates a workflow whose draft is an uploaded document. Nothing is stored
// unless the whole document is accepted.
func (s *Server) importWorkflow(w http.ResponseWriter, r *http.Request) error {
	u, err := readUpload(r)
	if err != nil {
		return err
	}
	filename, doc, problems := importedFile(u)
	carry := false
	if problems == nil {
		created, err := s.engine.ImportWorkflow(r.Context(), principalFrom(r).Actor(), doc, u.values[importName])
		if err == nil {
			s.flash(r, "success", "Imported "+filename+" as a new draft, "+created.Name+". Check its lint below, then publish it.")
			return redirect(w, r, "/workflows/"+created.ID.String())
		}
		if problems, carry, err = importProblems(err, filename); err != nil {
			return err
		}
	}
	page := s.page(r, "Create a workflow", "workflows")
	page.URL = "/workflows/new"
	s.render(w, r, http.StatusUnprocessableEntity, views.WorkflowFormView(views.WorkflowFormPage{
		Page: page, Import: importForm(u, filename, doc, problems, carry),
	}))
	return nil
}

// importDraft makes an uploaded document the draft of a workflow, opening one on a published
// workflow. Replacing an open draft needs the form's confirmation; the replaced draft stays
// in the audit log.
func (s *Server) importDraft(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	u, err := readUpload(r)
	if err != nil {
		return err
	}
	filename, doc, problems := importedFile(u)
	carry := false
	if problems == nil {
		replaced := wf.HasDraft
		saved, err := s.engine.ImportDraft(r.Context(), principalFrom(r).Actor(), wf.ID, doc, filename, u.values[importName], u.values[importReplace] == "true")
		var conflict *engine.ConflictError
		switch {
		case err == nil:
			msg := fmt.Sprintf("Imported %s as the draft of %s.", filename, saved.Name)
			if replaced {
				msg += " The import can be undone like any edit of the draft, and the audit log keeps the draft it replaced."
			}
			if saved.Version > 0 {
				msg += fmt.Sprintf(" Runs keep using version %d until you publish it.", saved.Version)
			}
			s.flash(r, "success", msg)
			return redirect(w, r, "/workflows/"+wf.ID.String())
		case errors.As(err, &conflict):
			s.flash(r, "error", sentence(conflict.Message))
			return redirect(w, r, "/workflows/"+wf.ID.String())
		}
		if problems, carry, err = importProblems(err, filename); err != nil {
			return err
		}
	}
	form := importForm(u, filename, doc, problems, carry)
	p, err := s.workflowPage(r, wf, 0, nil)
	if err != nil {
		return err
	}
	if p.Import != nil {
		form.DraftOpen, form.DraftHref = p.Import.DraftOpen, p.Import.DraftHref
	}
	p.Import = &form
	s.render(w, r, http.StatusUnprocessableEntity, views.WorkflowView(p))
	return nil
}
