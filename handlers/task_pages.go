package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
	"floh/views"
)

// The Tasks page: the viewer's manual tasks and approvals, one tab each, as cards with the
// actions the engine would accept from them. Every action is a form post to
// /tasks/{id}/{action}: without JavaScript it returns to the list with a flash; under htmx it
// answers with the card in its new state (a refusal in place: 422 with the field's error, 409
// when someone acted first), plus the header's and the tabs' counts out of band.

const (
	tabTasks     = "tasks"
	tabApprovals = "approvals"
	// taskPageSize is smaller than the tables' page: a card is several lines high.
	taskPageSize = 20
)

var taskStatusOptions = []views.Option{
	{Value: db.TaskOpen, Label: "Open"}, {Value: db.TaskOnHold, Label: "On hold"},
	{Value: engine.TaskStatusDecided, Label: "Recently decided or ended"},
}

// taskQuery is a list of the Tasks page as its address names it. A hand-edited address still
// shows a list: what cannot be read falls back to the default.
type taskQuery struct {
	tab, scope, status, q string
	runID                 *uuid.UUID
	page                  int
}

func readTaskQuery(q url.Values, canSeeAll bool) taskQuery {
	tq := taskQuery{tab: tabTasks, q: strings.TrimSpace(q.Get("q")), page: 1}
	if q.Get("tab") == tabApprovals {
		tq.tab = tabApprovals
	}
	if q.Get("scope") == engine.TaskScopeAll && canSeeAll {
		tq.scope = engine.TaskScopeAll
	}
	switch st := q.Get("status"); st {
	case db.TaskOpen, db.TaskOnHold, engine.TaskStatusDecided:
		tq.status = st
	}
	if id, err := uuid.Parse(q.Get("runId")); err == nil {
		tq.runID = &id
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		tq.page = n
	}
	return tq
}

func (tq taskQuery) kind() string {
	if tq.tab == tabApprovals {
		return db.TaskApproval
	}
	return db.TaskManualTask
}

func (tq taskQuery) href(page int) string {
	v := url.Values{"scope": {tq.scope}, "status": {tq.status}, "q": {tq.q}}
	if tq.tab == tabApprovals {
		v.Set("tab", tabApprovals)
	}
	if tq.runID != nil {
		v.Set("runId", tq.runID.String())
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return withQuery("/tasks", v)
}

func (s *Server) listTaskPage(w http.ResponseWriter, r *http.Request) error {
	tq := readTaskQuery(r.URL.Query(), principalFrom(r).Can(engine.PermTaskAssign))
	p, err := s.tasksPage(r, tq)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.TasksView(p, isPartial(r)))
	return nil
}

func (s *Server) tasksPage(r *http.Request, tq taskQuery) (views.TasksPage, error) {
	ctx := r.Context()
	pr := principalFrom(r)
	items, total, err := s.engine.ListTasks(ctx, pr, engine.TaskListInput{Kind: tq.kind(), Scope: tq.scope, Status: tq.status,
		RunID: tq.runID, Q: tq.q, Page: db.Page{Page: tq.page, PageSize: taskPageSize}})
	if err != nil {
		return views.TasksPage{}, err
	}
	tabs, err := s.taskTabs(ctx, pr, tq.tab)
	if err != nil {
		return views.TasksPage{}, err
	}
	title := "Tasks"
	if tq.tab == tabApprovals {
		title = "Approvals"
	}
	page := s.page(r, title, "tasks")
	back := tq.href(tq.page)
	page.URL = back
	p := views.TasksPage{
		Page: page, Tab: tq.tab, Tabs: tabs, Scope: tq.scope, CanSeeAll: pr.Can(engine.PermTaskAssign),
		Status: tq.status, Statuses: taskStatusOptions, Q: tq.q,
		NoDecide: tq.tab == tabApprovals && !pr.Can(engine.PermApprovalDecide),
		Pager:    views.Pager{Page: tq.page, PageSize: taskPageSize, Total: total, Href: tq.href},
	}
	if tq.runID != nil {
		p.RunID = tq.runID.String()
	}
	if p.Cards, err = s.taskCards(ctx, pr, items, back); err != nil {
		return views.TasksPage{}, err
	}
	return p, nil
}

// taskTabs counts what is open for the viewer on each tab.
func (s *Server) taskTabs(ctx context.Context, pr *engine.Principal, current string) (views.TaskTabs, error) {
	n, err := s.engine.CountMyTasksByKind(ctx, pr)
	if err != nil {
		return views.TaskTabs{}, err
	}
	return views.TaskTabs{Current: current, Tasks: n[db.TaskManualTask], Approvals: n[db.TaskApproval]}, nil
}

// taskCount is the header's count of the viewer's open tasks; a failure to count leaves it
// blank rather than failing the page.
func (s *Server) taskCount(ctx context.Context, pr *engine.Principal) views.NavCount {
	c := views.NavCount{ID: "nav-tasks-count", Poll: "/tasks/count", Words: "open"}
	if n, err := s.engine.CountMyTasks(ctx, pr); err == nil {
		c.N = n
	}
	return c
}

// taskCountLink is the header count's self-refresh.
func (s *Server) taskCountLink(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, views.NavCountView(s.taskCount(r.Context(), principalFrom(r)), false))
	return nil
}

// taskCards builds the cards of a page of tasks: the people to assign to are looked up once
// per kind, the runs' subjects once each.
func (s *Server) taskCards(ctx context.Context, pr *engine.Principal, items []db.TaskView, back string) ([]views.TaskCard, error) {
	assignees := map[string][]db.User{}
	subjects := map[string]string{}
	var cards []views.TaskCard
	for i := range items {
		t := &items[i]
		if _, ok := assignees[t.Kind]; !ok && pr.Can(engine.PermTaskAssign) {
			users, err := s.engine.TaskAssignees(ctx, t.Kind)
			if err != nil {
				return nil, err
			}
			assignees[t.Kind] = users
		}
		about, err := s.runSubject(ctx, t, subjects)
		if err != nil {
			return nil, err
		}
		c := s.taskCard(pr, t, back, assignees[t.Kind])
		c.About = about
		cards = append(cards, c)
	}
	return cards, nil
}

// runSubject names what a task's run is about: a user by name and email, or the value itself.
func (s *Server) runSubject(ctx context.Context, t *db.TaskView, seen map[string]string) (string, error) {
	if t.SubjectType == nil || t.SubjectID == nil {
		return "", nil
	}
	if *t.SubjectType != "user" {
		return *t.SubjectID, nil
	}
	if name, ok := seen[*t.SubjectID]; ok {
		return name, nil
	}
	name := *t.SubjectID
	if id, err := uuid.Parse(name); err == nil {
		u, err := db.FindUser(ctx, s.db.Bun, id)
		switch {
		case err == nil:
			name = personLabel(u.DisplayName, u.Email)
		case !errors.Is(err, db.ErrNotFound):
			return "", err
		}
	}
	seen[*t.SubjectID] = name
	return name, nil
}

func personLabel(name, email string) string {
	if name == "" || name == email {
		return email
	}
	return name + " (" + email + ")"
}

func (s *Server) taskCard(pr *engine.Principal, t *db.TaskView, back string, assignees []db.User) views.TaskCard {
	c := views.TaskCard{
		ID: t.ID.String(), Title: t.Title, Approval: t.Kind == db.TaskApproval, Status: taskStatusBadge(t.Status),
		Workflow: t.WorkflowName, RunID: t.RunID.String(), StepName: t.StepName, RequestedBy: t.RequestedBy,
		HeldBy: taskHolder(pr, t), Waiting: s.whenT(t.CreatedAt), Due: s.when(t.DueAt), Slot: slotWords(t),
		Instructions: t.Instructions, Back: back,
	}
	if c.StepName == c.Title {
		c.StepName = ""
	}
	if pr.CanSeeRun(&db.Run{StartedBy: db.RunActor{ID: t.RequestedByID}}) {
		c.RunHref = "/runs/" + c.RunID
	}
	if t.Status == db.TaskOnHold {
		c.HoldReason = deref(t.HoldReason)
	}
	if t.DueAt != nil && t.Active() && s.engine.Clock().Now().After(*t.DueAt) {
		c.Overdue = true
	}
	if !t.Active() {
		c.Decision = s.taskDecision(t)
	}
	a := engine.ActionsOn(pr, &t.Task)
	c.Actions = views.TaskCardActions{Claim: a.Claim, Release: a.Unassign, Hold: a.Hold, Resume: a.Unhold,
		Complete: a.Complete, Approve: a.Approve, Reject: a.Reject}
	if a.Assign {
		c.Actions.Assign = []views.Option{}
		for _, u := range assignees {
			if t.AssigneeID == nil || *t.AssigneeID != u.ID {
				c.Actions.Assign = append(c.Actions.Assign, views.Option{Value: u.ID.String(), Label: personLabel(u.DisplayName, u.Email)})
			}
		}
	}
	return c
}

func taskStatusBadge(status string) views.Badge {
	label := strings.ReplaceAll(status, "_", " ")
	switch status {
	case db.TaskOpen:
		return views.Badge{Label: label, Tone: "info"}
	case db.TaskOnHold, db.TaskExpired:
		return views.Badge{Label: label, Tone: "warn"}
	case db.TaskCompleted, db.TaskApproved:
		return views.Badge{Label: label, Tone: "ok"}
	case db.TaskRejected:
		return views.Badge{Label: label, Tone: "bad"}
	default:
		return views.Badge{Label: label, Tone: "muted"}
	}
}

// taskHolder says who may act on a task: the viewer, a person, or the members of a role.
func taskHolder(pr *engine.Principal, t *db.TaskView) string {
	switch {
	case t.AssigneeID != nil && *t.AssigneeID == pr.User.ID:
		return "You"
	case t.AssigneeID != nil:
		return personLabel(deref(t.AssigneeName), deref(t.AssigneeEmail))
	case t.AssigneeRole != nil:
		return "Anyone with the " + *t.AssigneeRole + " role"
	default:
		return "No one yet: someone with the task:assign permission gives it to someone"
	}
}

// slotWords says where an approver stands among the step's approvers; "" for a lone approver
// or a manual task.
func slotWords(t *db.TaskView) string {
	if t.Kind != db.TaskApproval || t.Slots < 2 {
		return ""
	}
	n := strconv.Itoa(t.Slots)
	k := strconv.Itoa(t.Slot + 1)
	switch t.Mode {
	case workflow.ApprovalParallel:
		return "Approver " + k + " of " + n + ": all must approve; one rejection rejects."
	case workflow.ApprovalSequential:
		return "Approver " + k + " of " + n + ", in order: each decides once the one before approved."
	default:
		return "One of " + n + " approvers: the first decision counts for all."
	}
}

func (s *Server) taskDecision(t *db.TaskView) *views.TaskDecision {
	d := &views.TaskDecision{At: s.when(t.DecidedAt), Comment: deref(t.Comment)}
	by := deref(t.DecidedByLabel)
	switch t.Status {
	case db.TaskApproved:
		d.Label = "Approved by " + by
	case db.TaskRejected:
		d.Label = "Rejected by " + by
	case db.TaskCompleted:
		d.Label = "Completed by " + by
	case db.TaskExpired:
		d.Label, d.At = "Expired with no decision", s.whenT(t.UpdatedAt)
	default:
		d.Label, d.At = "No longer needed: the step was decided without it, or the run was cancelled", s.whenT(t.UpdatedAt)
	}
	return d
}

// taskFormFields name the input each action reads, as the engine names its field errors.
var taskFormFields = map[string]string{
	engine.TaskAssign: "userId", engine.TaskHold: "reason", engine.TaskReject: "reason", engine.TaskComplete: "comment",
}

// taskFieldLabels are those inputs' labels, to put in front of the engine's messages.
var taskFieldLabels = map[string]string{"userId": "The person", "reason": "The reason", "comment": "The comment"}

// actOnTaskPage serves POST /tasks/{id}/{action}.
func (s *Server) actOnTaskPage(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		if err := r.ParseForm(); err != nil {
			return &badRequest{"the form could not be read"}
		}
		pr := principalFrom(r)
		back := taskBack(r.PostFormValue("back"))
		field := taskFormFields[action]
		form := views.Form{Values: map[string]string{}}
		var in engine.TaskInput
		switch field {
		case "userId":
			form.Values[field] = r.PostFormValue(field)
			if raw := strings.TrimSpace(form.Values[field]); raw != "" {
				uid, err := uuid.Parse(raw)
				if err != nil {
					return s.taskRefused(w, r, id, action, back, form, engine.Invalid(field, "%q is not a user id", raw))
				}
				in.UserID = &uid
			}
		case "reason", "comment":
			form.Values[field] = r.PostFormValue(field)
			in.Comment = form.Values[field]
		}
		t, err := s.engine.ActOnTask(r.Context(), pr, id, action, in)
		if err != nil {
			return s.taskRefused(w, r, id, action, back, form, err)
		}
		msg := taskDoneMessage(action, t)
		if !isPartial(r) {
			s.flash(r, "success", msg)
			return redirect(w, r, back)
		}
		return s.renderTaskCard(w, r, http.StatusOK, t, back, func(c *views.TaskCard) {
			c.Notice = &views.Flash{Kind: "success", Message: msg}
		})
	}
}

// taskRefused answers an action the engine refused. Bad input comes back beside its field with
// what was typed (422); a task that moved on meanwhile (409) is said in place under htmx and
// as a flash on the list otherwise; one no longer the viewer's goes to taskGone. Anything else
// (a missing permission) is an error page.
func (s *Server) taskRefused(w http.ResponseWriter, r *http.Request, id uuid.UUID, action, back string, form views.Form, err error) error {
	var (
		verr     *engine.ValidationError
		conflict *engine.ConflictError
	)
	switch {
	case errors.As(err, &verr):
		for _, fe := range verr.Fields {
			form.Errors = append(form.Errors, views.FieldError{Field: fe.Field, Message: fieldMessage(taskFieldLabels[fe.Field], fe.Message)})
		}
		withForm := func(c *views.TaskCard) { c.Open, c.Form = action, form }
		t, err := s.engine.FindTask(r.Context(), principalFrom(r), id)
		if err != nil {
			return s.taskGone(w, r, back, err)
		}
		if isPartial(r) {
			return s.renderTaskCard(w, r, http.StatusUnprocessableEntity, t, back, withForm)
		}
		return s.renderTasksWith(w, r, back, t, withForm)
	case errors.As(err, &conflict):
		msg := "Nothing changed: " + strings.TrimSuffix(conflict.Message, ".") + "."
		if !isPartial(r) {
			s.flash(r, "error", msg)
			return redirect(w, r, back)
		}
		t, err := s.engine.FindTask(r.Context(), principalFrom(r), id)
		if err != nil {
			return s.taskGone(w, r, back, err)
		}
		return s.renderTaskCard(w, r, http.StatusConflict, t, back, func(c *views.TaskCard) {
			c.Notice = &views.Flash{Kind: "error", Message: msg}
		})
	default:
		return s.taskGone(w, r, back, err)
	}
}

// taskGone answers an action on a task the viewer can no longer see: it was given to someone
// else or released to a role they lack since the page was loaded. The list says so; the
// task's existence is not confirmed to someone who never could see it.
func (s *Server) taskGone(w http.ResponseWriter, r *http.Request, back string, err error) error {
	if !errors.Is(err, db.ErrNotFound) {
		return err
	}
	s.flash(r, "error", "Nothing changed: that task is not on your list any more. Someone may have given it to another person, or it ended.")
	return redirect(w, r, back)
}

// renderTaskCard answers an htmx action with the card, and the counts it may have changed.
func (s *Server) renderTaskCard(w http.ResponseWriter, r *http.Request, status int, t *db.TaskView, back string, adjust func(*views.TaskCard)) error {
	ctx := r.Context()
	pr := principalFrom(r)
	cards, err := s.taskCards(ctx, pr, []db.TaskView{*t}, back)
	if err != nil {
		return err
	}
	adjust(&cards[0])
	current := tabTasks
	if t.Kind == db.TaskApproval {
		current = tabApprovals
	}
	tabs, err := s.taskTabs(ctx, pr, current)
	if err != nil {
		return err
	}
	s.render(w, r, status, views.TaskActionResult(cards[0], s.taskCount(ctx, pr), tabs))
	return nil
}

// renderTasksWith shows the list the form came from again (a 422 without JavaScript), with
// the task's card holding what was typed and what was wrong.
func (s *Server) renderTasksWith(w http.ResponseWriter, r *http.Request, back string, t *db.TaskView, adjust func(*views.TaskCard)) error {
	u, _ := url.Parse(back)
	p, err := s.tasksPage(r, readTaskQuery(u.Query(), principalFrom(r).Can(engine.PermTaskAssign)))
	if err != nil {
		return err
	}
	i := 0
	for i < len(p.Cards) && p.Cards[i].ID != t.ID.String() {
		i++
	}
	if i == len(p.Cards) {
		// Not on the list the form came from any more (it changed meanwhile): shown first.
		cards, err := s.taskCards(r.Context(), principalFrom(r), []db.TaskView{*t}, back)
		if err != nil {
			return err
		}
		p.Cards, i = append(cards, p.Cards...), 0
	}
	adjust(&p.Cards[i])
	s.render(w, r, http.StatusUnprocessableEntity, views.TasksView(p, false))
	return nil
}

// taskBack is the list a task form returns to: the Tasks page it was posted from, else the
// Tasks page.
func taskBack(raw string) string {
	back := safeReturnTo(raw)
	if u, err := url.Parse(back); err != nil || u.Path != "/tasks" {
		return "/tasks"
	}
	return back
}

// taskDoneMessage says what an action did.
func taskDoneMessage(action string, t *db.TaskView) string {
	title := "“" + t.Title + "”"
	switch action {
	case engine.TaskClaim:
		return "You claimed " + title + ": it is yours now, and no one else is offered it."
	case engine.TaskAssign:
		return "Gave " + title + " to " + personLabel(deref(t.AssigneeName), deref(t.AssigneeEmail)) + "; they are notified."
	case engine.TaskUnassign:
		return "Released " + title + " to anyone with the " + deref(t.AssigneeRole) + " role."
	case engine.TaskHold:
		return title + " is on hold. Resume it to act on it."
	case engine.TaskUnhold:
		return title + " is open again."
	case engine.TaskComplete:
		return "Completed " + title + ". The run moves on."
	case engine.TaskApprove:
		return "Approved " + title + "."
	default:
		return "Rejected " + title + ". The run takes its rejected path; its page shows your reason."
	}
}

// runTasks are the tasks of a run by step execution, in slot order: the run page says under
// each approval or manual task step who it waits for, or how it was decided.
func (s *Server) runTasks(ctx context.Context, runID uuid.UUID) (map[uuid.UUID][]db.TaskView, error) {
	all := []string{db.TaskQueued, db.TaskOpen, db.TaskOnHold, db.TaskCompleted, db.TaskApproved, db.TaskRejected, db.TaskExpired, db.TaskCancelled}
	items, _, err := db.ListTasks(ctx, s.db.Bun, db.TaskFilter{RunID: &runID, Statuses: all, Page: db.Page{Page: 1, PageSize: maxPageSize}})
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID][]db.TaskView{}
	for _, t := range items {
		out[t.StepExecutionID] = append(out[t.StepExecutionID], t)
	}
	return out, nil
}

// stepPeople puts a step's tasks on its row: a sentence saying who the step waits for or how
// it was decided, each approver's decision when there are several, and a link to the Tasks
// page for a viewer who may act on one of them.
func (s *Server) stepPeople(pr *engine.Principal, row *views.RunStepRow, se *db.StepExecution, tasks []db.TaskView) {
	if len(tasks) == 0 {
		return
	}
	// The link goes to the viewer's own task when they have one, else to one they manage.
	var mine, managed *db.TaskView
	for i := range tasks {
		t := &tasks[i]
		st := views.RunStepTask{Holder: slotHolder(t), Status: taskStatusBadge(t.Status), Comment: deref(t.Comment)}
		if !t.Active() {
			st.At = s.when(t.DecidedAt)
		} else if t.Status == db.TaskOnHold {
			st.Comment = "on hold: " + deref(t.HoldReason)
		}
		row.Tasks = append(row.Tasks, st)
		if engine.ActionsOn(pr, &t.Task).Any() {
			if engine.TaskIsFor(pr, &t.Task) && mine == nil {
				mine = t
			} else if managed == nil {
				managed = t
			}
		}
	}
	switch {
	case mine != nil:
		row.ActHref, row.ActLabel = stepActLink(pr, mine)
	case managed != nil:
		row.ActHref, row.ActLabel = stepActLink(pr, managed)
	}
	row.People = peopleWords(se, tasks)
}

// slotHolder names an approver slot or a manual task's holder: who decided it, who holds it,
// or the role it is for.
func slotHolder(t *db.TaskView) string {
	switch {
	case t.DecidedByLabel != nil:
		return *t.DecidedByLabel
	case t.AssigneeEmail != nil:
		return *t.AssigneeEmail
	case t.AssigneeRole != nil:
		return "anyone with the " + *t.AssigneeRole + " role"
	default:
		return "no one yet"
	}
}

func stepActLink(pr *engine.Principal, t *db.TaskView) (string, string) {
	q := url.Values{"runId": {t.RunID.String()}}
	if t.Kind == db.TaskApproval {
		q.Set("tab", tabApprovals)
	}
	label := "Open it in Tasks"
	if t.Kind == db.TaskApproval {
		label = "Decide in Tasks"
	}
	if !engine.TaskIsFor(pr, &t.Task) {
		// Someone with task:assign who is not its holder finds it among everyone's.
		q.Set("scope", engine.TaskScopeAll)
		label = "Manage it in Tasks"
	}
	return withQuery("/tasks", q), label
}

// peopleWords is the step's tasks in a sentence: who it waits for while it waits, else how
// it was decided.
func peopleWords(se *db.StepExecution, tasks []db.TaskView) string {
	var waiting, queued, approved []string
	var decided *db.TaskView
	expired := false
	for i := range tasks {
		t := &tasks[i]
		switch t.Status {
		case db.TaskOpen, db.TaskOnHold:
			waiting = append(waiting, slotHolder(t))
		case db.TaskQueued:
			queued = append(queued, slotHolder(t))
		case db.TaskApproved:
			approved = append(approved, slotHolder(t))
		case db.TaskRejected, db.TaskCompleted:
			decided = t
		case db.TaskExpired:
			expired = true
		}
	}
	approval := tasks[0].Kind == db.TaskApproval
	if se.Status == db.StepWaitingApproval || se.Status == db.StepWaitingResponse {
		if len(waiting) == 0 {
			return ""
		}
		if !approval {
			return "Waiting for " + joinWords(waiting, "or") + " to do this task."
		}
		switch tasks[0].Mode {
		case workflow.ApprovalParallel:
			return "Waiting for approval by " + joinWords(waiting, "and") + ": every approver must approve."
		case workflow.ApprovalSequential:
			if len(queued) > 0 {
				return "Waiting for approval by " + joinWords(waiting, "and") + ", then by " + strings.Join(queued, ", then by ") + "."
			}
			return "Waiting for approval by " + joinWords(waiting, "and") + ", the last approver in order."
		default:
			return "Waiting for approval by " + joinWords(waiting, "or") + "."
		}
	}
	switch {
	case decided != nil && decided.Status == db.TaskRejected:
		return "Rejected by " + slotHolder(decided) + ": “" + deref(decided.Comment) + "”"
	case decided != nil:
		if c := deref(decided.Comment); c != "" {
			return "Completed by " + slotHolder(decided) + ": “" + c + "”"
		}
		return "Completed by " + slotHolder(decided) + "."
	case len(approved) > 0 && se.Status == db.StepCompleted:
		return "Approved by " + joinWords(approved, "and") + "."
	case expired:
		return "Expired: no one decided in time."
	case se.Status == db.StepCancelled:
		return "Cancelled before it was decided."
	}
	return ""
}

// joinWords lists names in a sentence: "a", "a and b", "a, b and c".
func joinWords(names []string, conj string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}
