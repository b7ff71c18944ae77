package layout

import (
	"testing"

	"floh/engine/templates"
	"floh/engine/workflow"
)

// instances is a catalogue with one instance of every connector type, as Insert binds them.
type instances struct{}

func (instances) Instance(ref string) (templates.Instance, bool) {
	return templates.Instance{ID: ref, Name: ref, Type: ref}, true
}

// bindings binds every slot: a connector slot to an instance named after its type, a
// variable slot to a new variable named after the slot.
func bindings(t templates.Template) map[string]string {
	out := map[string]string{}
	for _, s := range t.Slots {
		out[s.Name] = s.ConnectorType
		if s.Kind == templates.SlotVariable {
			out[s.Name] = s.Name
		}
	}
	return out
}

// Every template draws cleanly as its preview, inserted into a blank draft (spliced between
// start and end), and inserted a second time (a part beside the graph).
func TestTemplatesLayOutCleanly(t *testing.T) {
	for _, tm := range templates.All() {
		t.Run(tm.ID, func(t *testing.T) {
			preview := tm.Definition()
			nodes, edges := nodesAndEdges(preview)
			checkDiagram(t, nodes, edges, OfDefinition(preview))

			draft := &workflow.Definition{Name: "Blank", Variables: []workflow.Variable{},
				Steps: []workflow.Step{{ID: "start", Name: "Start", Type: workflow.TypeStart}, {ID: "end", Name: "End", Type: workflow.TypeEnd}},
				Edges: []workflow.Edge{{From: "start", To: "end", On: workflow.OnSuccess}}}
			for range 2 {
				res, err := templates.Insert(draft, tm, bindings(tm), instances{})
				if err != nil {
					t.Fatal(err)
				}
				draft = res.Definition
				nodes, edges := nodesAndEdges(draft)
				checkDiagram(t, nodes, edges, OfDefinition(draft))
			}
		})
	}
}
