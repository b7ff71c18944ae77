package workflow

// typeLabels name the step types in words, as pages show them to admins.
var typeLabels = map[string]string{
	TypeStart:         "Start",
	TypeEnd:           "End",
	TypeConnector:     "Connector",
	TypeApproval:      "Approval",
	TypeManualTask:    "Manual task",
	TypeNotification:  "Notification",
	TypeCondition:     "Condition",
	TypeTransform:     "Transform",
	TypeUserCreate:    "Create user",
	TypeProfileUpdate: "Profile update",
	TypeDelay:         "Delay",
	TypeSubWorkflow:   "Sub-workflow",
}

// TypeLabel names a step type in words ("Manual task" for manual_task). A type Floh does not
// know (a draft may hold one) is shown as typed, so the admin sees what is wrong.
func TypeLabel(stepType string) string {
	if l, ok := typeLabels[stepType]; ok {
		return l
	}
	return stepType
}
