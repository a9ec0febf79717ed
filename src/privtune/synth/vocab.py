"""Fixed vocabulary of the synthetic company: constants, departments, titles, pay bands.

Everything here is data, not logic. Other modules (and tests, and the generic corpus) read it,
so the words a tiny model is pre-trained on overlap with the words in reviews and tickets.
"""

from __future__ import annotations

import datetime as _dt

#: The fixed "today" of every synthetic company: nothing depends on the wall clock.
TODAY = _dt.date(2026, 6, 30)

#: The review period every review covers.
REVIEW_PERIOD = "2025-H2"

#: Bumped whenever a file layout or column changes.
SCHEMA_VERSION = 1

#: Every PII type a ground-truth span can carry.
PII_TYPES: tuple[str, ...] = (
    "PERSON",
    "EMAIL",
    "PHONE",
    "SSN",
    "IBAN",
    "DATE",
    "MONEY",
    "EMPLOYEE_ID",
    "ADDRESS",
)

EMPLOYEE_COLUMNS: tuple[str, ...] = (
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "ssn",
    "date_of_birth",
    "gender",
    "ethnicity",
    "marital_status",
    "home_address",
    "city",
    "state",
    "zip",
    "hire_date",
    "department",
    "job_title",
    "manager_id",
    "salary",
    "bonus",
    "performance_rating",
    "leave_days_taken",
    "medical_leave",
    "iban",
    "emergency_contact_name",
    "emergency_contact_relation",
    "emergency_contact_phone",
)

LEAVE_COLUMNS: tuple[str, ...] = (
    "leave_id",
    "employee_id",
    "start_date",
    "end_date",
    "leave_type",
    "medical",
)

LEAVE_TYPES: tuple[str, ...] = ("annual", "sick", "medical", "parental", "bereavement", "unpaid")

TICKET_CATEGORIES: tuple[str, ...] = (
    "payroll",
    "leave",
    "benefits",
    "it_access",
    "relocation",
    "complaint",
    "onboarding",
    "offboarding",
)

EXECUTIVE = "Executive"
CEO_TITLE = "Chief Executive Officer"

#: Departments in the order they are opened as the company grows.
#: Per department: head title, manager titles, senior, mid and junior titles, pay multiplier.
DEPARTMENTS: dict[str, dict[str, object]] = {
    "Engineering": {
        "head": "VP of Engineering",
        "manager": ["Engineering Manager"],
        "senior": ["Senior Software Engineer", "Staff Engineer", "Senior Data Engineer"],
        "mid": ["Software Engineer", "Data Engineer", "QA Engineer", "DevOps Engineer"],
        "junior": ["Junior Software Engineer", "Associate QA Engineer"],
        "pay": 1.15,
    },
    "Sales": {
        "head": "VP of Sales",
        "manager": ["Sales Manager", "Regional Sales Manager"],
        "senior": ["Senior Account Executive", "Key Account Manager"],
        "mid": ["Account Executive", "Sales Operations Analyst"],
        "junior": ["Sales Development Representative"],
        "pay": 1.0,
    },
    "Finance": {
        "head": "Chief Financial Officer",
        "manager": ["Finance Manager", "Controller"],
        "senior": ["Senior Accountant", "Senior Financial Analyst"],
        "mid": ["Accountant", "Financial Analyst", "Payroll Specialist"],
        "junior": ["Accounts Payable Clerk", "Junior Accountant"],
        "pay": 1.05,
    },
    "Human Resources": {
        "head": "Head of People",
        "manager": ["HR Manager", "Talent Acquisition Manager"],
        "senior": ["Senior HR Business Partner", "Senior Recruiter"],
        "mid": ["HR Generalist", "Recruiter", "Benefits Specialist"],
        "junior": ["HR Coordinator", "HR Assistant"],
        "pay": 0.95,
    },
    "Marketing": {
        "head": "VP of Marketing",
        "manager": ["Marketing Manager", "Brand Manager"],
        "senior": ["Senior Product Marketing Manager", "Senior Content Strategist"],
        "mid": ["Marketing Specialist", "Content Writer", "SEO Analyst"],
        "junior": ["Marketing Coordinator", "Social Media Assistant"],
        "pay": 0.97,
    },
    "Operations": {
        "head": "Chief Operating Officer",
        "manager": ["Operations Manager", "Facilities Manager"],
        "senior": ["Senior Operations Analyst", "Senior Project Manager"],
        "mid": ["Operations Analyst", "Project Coordinator", "Procurement Specialist"],
        "junior": ["Operations Assistant", "Office Coordinator"],
        "pay": 0.95,
    },
    "Customer Support": {
        "head": "Head of Customer Support",
        "manager": ["Support Team Lead", "Customer Success Manager"],
        "senior": ["Senior Support Specialist", "Senior Customer Success Associate"],
        "mid": ["Support Specialist", "Customer Success Associate"],
        "junior": ["Support Agent", "Junior Support Agent"],
        "pay": 0.82,
    },
    "Legal": {
        "head": "General Counsel",
        "manager": ["Legal Manager"],
        "senior": ["Senior Counsel", "Senior Compliance Officer"],
        "mid": ["Corporate Counsel", "Compliance Analyst", "Paralegal"],
        "junior": ["Legal Assistant"],
        "pay": 1.1,
    },
}

#: Seniority levels, low to high, with (min, max) base salary in USD before the dept multiplier
#: and the bonus target as a fraction of salary. With the tenure bump (at most +9%) the bands
#: keep a head above everyone in their department and the CEO above everyone.
LEVELS: dict[str, tuple[int, int, float]] = {
    "junior": (44_000, 62_000, 0.03),
    "mid": (62_000, 92_000, 0.06),
    "senior": (92_000, 130_000, 0.10),
    "manager": (118_000, 150_000, 0.14),
    "head": (165_000, 235_000, 0.20),
    "ceo": (300_000, 420_000, 0.35),
}

GENDERS: tuple[tuple[str, float], ...] = (("Female", 0.49), ("Male", 0.49), ("Non-binary", 0.02))

ETHNICITIES: tuple[tuple[str, float], ...] = (
    ("White", 0.55),
    ("Hispanic or Latino", 0.17),
    ("Black or African American", 0.12),
    ("Asian", 0.10),
    ("Two or More Races", 0.03),
    ("American Indian or Alaska Native", 0.01),
    ("Native Hawaiian or Other Pacific Islander", 0.01),
    ("Prefer not to say", 0.01),
)

MARITAL_STATUSES: tuple[str, ...] = (
    "Single",
    "Married",
    "Domestic partnership",
    "Divorced",
    "Widowed",
)

RELATIONS: tuple[str, ...] = (
    "spouse",
    "partner",
    "mother",
    "father",
    "sister",
    "brother",
    "daughter",
    "son",
)

#: First and last names that are also ordinary English words, planted at a low rate so a
#: detector cannot rely on "capitalised unknown word = name".
COMMON_WORD_FIRST_NAMES_F: tuple[str, ...] = ("May", "Hope", "Faith", "Joy", "Rose", "Dawn", "Summer", "June", "Grace")
COMMON_WORD_FIRST_NAMES_M: tuple[str, ...] = ("Grant", "Will", "Mark", "Bill", "Art", "Guy", "Rich", "Chase")
COMMON_WORD_LAST_NAMES: tuple[str, ...] = (
    "Long", "Price", "Young", "Little", "Banks", "Hill", "Cook", "Black", "White", "Bell",
    "Stone", "Wood", "Rich", "Small", "Best", "Gay", "Sharp", "Strong",
)  # fmt: skip
COMMON_WORD_NAMES: frozenset[str] = frozenset(
    COMMON_WORD_FIRST_NAMES_F + COMMON_WORD_FIRST_NAMES_M + COMMON_WORD_LAST_NAMES
)

#: Real US area codes (no 555 numbers: those look fake).
AREA_CODES: tuple[str, ...] = (
    "201", "202", "206", "212", "213", "214", "216", "303", "305", "312", "313", "314",
    "404", "408", "410", "412", "415", "425", "469", "503", "510", "512", "602", "612",
    "614", "615", "617", "619", "646", "650", "702", "704", "713", "718", "720", "773",
    "801", "813", "817", "832", "858", "904", "916", "919", "929", "949", "971", "972",
)  # fmt: skip

#: Word lists for the company name; no surnames, so the name never looks like a person.
COMPANY_PREFIXES: tuple[str, ...] = (
    "North", "Blue", "Bright", "Silver", "Harbor", "Summit", "Cedar", "Iron", "Clear",
    "Red", "Maple", "Granite", "Pioneer", "Lumen", "Apex", "Beacon",
)  # fmt: skip
COMPANY_STEMS: tuple[str, ...] = (
    "wind", "field", "ridge", "stone", "bridge", "lake", "point", "wave", "gate", "peak",
    "path", "line", "works", "forge",
)  # fmt: skip
COMPANY_KINDS: tuple[str, ...] = (
    "Analytics", "Logistics", "Health", "Systems", "Labs", "Software", "Foods", "Energy",
)  # fmt: skip

#: Decoy generators never produce labelled spans; tests look for these shapes.
DECOY_PATTERNS: tuple[str, ...] = (
    r"order #\d{5}",
    r"INC-\d{5}",
    r"v\d+\.\d+\.\d+",
    r"\b\d{1,2} (?:days|people|laptops|tickets|attempts)\b",
)
