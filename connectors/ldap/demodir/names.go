package demodir

// The vocabulary the people are drawn from. Names come from many languages, some with
// letters outside ASCII, as a real directory's do; mail addresses and uids are their ASCII
// folding (asciiFold).

var givenNames = []string{
	"Aaliyah", "Abdul", "Adaeze", "Aditi", "Agnieszka", "Ahmed", "Aiko", "Alejandro", "Aleksandr", "Alice",
	"Amara", "Amir", "Ana", "Andrea", "Anika", "Anton", "Arjun", "Astrid", "Ayesha", "Beatriz",
	"Benjamin", "Bilal", "Björn", "Camila", "Carlos", "Chen", "Chiara", "Chidi", "Clara", "Daniel",
	"Dariusz", "David", "Deepa", "Diego", "Dmitri", "Elena", "Elif", "Elijah", "Emma", "Emre",
	"Eun-ji", "Fatima", "Felix", "Fernanda", "Finn", "François", "Gabriel", "Grace", "Hana", "Hannah",
	"Hassan", "Helga", "Hiroshi", "Ibrahim", "Ingrid", "Isabel", "Ivan", "Jakub", "James", "Javier",
	"Jia", "Joana", "Jonas", "José", "Julia", "Kai", "Kamala", "Karin", "Kenji", "Kofi",
	"Lars", "Laura", "Layla", "Leila", "Liam", "Lucas", "Lucía", "Łukasz", "Maja", "Malik",
	"Marco", "María", "Mateo", "Mei", "Mohammed", "Nadia", "Naledi", "Nikolai", "Noah", "Nora",
	"Olga", "Omar", "Oscar", "Pablo", "Priya", "Rafael", "Rahul", "Ravi", "Rosa", "Ruth",
	"Sakura", "Samuel", "Sara", "Sebastián", "Siobhan", "Sofia", "Søren", "Tariq", "Thandiwe", "Thomas",
	"Tomás", "Valentina", "Victor", "Wei", "Xavier", "Yara", "Yusuf", "Zainab", "Zoë", "Zoran",
}

var surnames = []string{
	"Abebe", "Adeyemi", "Ahmed", "Andersson", "Bakker", "Banerjee", "Becker", "Bianchi", "Brown", "Castro",
	"Chen", "Costa", "Dąbrowski", "Das", "Dubois", "Dvořák", "Eriksson", "Fernández", "Fischer", "Fontaine",
	"García", "Gonzalez", "Gupta", "Haddad", "Hansen", "Hernández", "Hoffmann", "Huang", "Ibrahim", "Ivanova",
	"Jansen", "Jensen", "Johnson", "Kamau", "Kato", "Khan", "Kim", "Kowalski", "Kumar", "Larsen",
	"Lee", "Li", "López", "Martin", "Martínez", "Mehta", "Mensah", "Moreau", "Müller", "Murphy",
	"Nakamura", "Nguyen", "Nielsen", "Novak", "O'Brien", "Okafor", "Olsen", "Ortiz", "Papadopoulos", "Park",
	"Patel", "Pereira", "Petrov", "Popescu", "Quispe", "Ramírez", "Reddy", "Rossi", "Russo", "Sánchez",
	"Santos", "Sato", "Schmidt", "Schneider", "Silva", "Singh", "Smith", "Sokolov", "Suzuki", "Takahashi",
	"Tanaka", "Taylor", "Thompson", "Tran", "Van der Berg", "Vargas", "Wagner", "Wang", "Weber", "Williams",
	"Wójcik", "Wu", "Yamamoto", "Yang", "Yilmaz", "Yusuf", "Zhang", "Zhou", "Zimmermann", "Żukowski",
}

var locations = []string{
	"Amsterdam", "Austin", "Bangalore", "Berlin", "Lisbon", "London", "Nairobi", "São Paulo", "Singapore", "Toronto",
}

// department is one of the groups; weight is its share of the people and titles its jobs, the
// common ones first (pickSkewed favours the start of the list).
type department struct {
	name, number string
	weight       int
	titles       []string
}

var departments = []department{
	{"Engineering", "1100", 26, []string{"Software Engineer", "Senior Software Engineer", "QA Engineer", "Site Reliability Engineer", "Staff Engineer", "Engineering Manager", "Principal Engineer", "Director of Engineering"}},
	{"Sales", "1200", 14, []string{"Account Executive", "Sales Development Representative", "Senior Account Executive", "Sales Engineer", "Regional Sales Manager", "VP of Sales"}},
	{"Customer Support", "1300", 11, []string{"Support Specialist", "Senior Support Specialist", "Support Team Lead", "Support Operations Analyst", "Head of Support"}},
	{"Marketing", "1400", 8, []string{"Marketing Specialist", "Content Strategist", "Product Marketing Manager", "Growth Analyst", "Brand Designer", "Marketing Director"}},
	{"Operations", "1500", 8, []string{"Operations Analyst", "Project Coordinator", "Program Manager", "Operations Manager", "Chief Operating Officer"}},
	{"IT", "1600", 7, []string{"IT Support Technician", "Systems Administrator", "Identity Engineer", "Network Engineer", "IT Manager"}},
	{"Finance", "1700", 6, []string{"Accountant", "Financial Analyst", "Payroll Specialist", "Controller", "Chief Financial Officer"}},
	{"Research", "1800", 6, []string{"Research Scientist", "Data Scientist", "Senior Research Scientist", "Research Lead"}},
	{"Human Resources", "1900", 5, []string{"HR Generalist", "Recruiter", "People Partner", "Talent Acquisition Lead", "Head of People"}},
	{"Legal", "2000", 3, []string{"Paralegal", "Legal Counsel", "Compliance Officer", "General Counsel"}},
	{"Procurement", "2100", 3, []string{"Buyer", "Procurement Specialist", "Vendor Manager", "Procurement Manager"}},
	{"Facilities", "2200", 3, []string{"Facilities Coordinator", "Office Manager", "Workplace Manager"}},
}
