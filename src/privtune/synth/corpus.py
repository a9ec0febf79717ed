"""Generic, non-personal HR language for pre-training a tiny language model.

:func:`generic_hr_corpus` returns sentences about policies, leave, payroll, reviews and ticket
handling, plus ``Q: ... A: ...`` lines. It reuses the departments, job titles, leave types and
ticket categories of :mod:`privtune.synth.vocab` so a model trained on it "speaks HR", and it
contains no names, no contact details and no identifiers of any kind.
"""

from __future__ import annotations

import random

from privtune.synth.vocab import DEPARTMENTS, LEAVE_TYPES, TICKET_CATEGORIES

_TITLES = sorted({t for d in DEPARTMENTS.values() for k in ("manager", "senior", "mid", "junior") for t in d[k]})  # type: ignore[attr-defined]
_DEPTS = list(DEPARTMENTS)
_CATS = [c.replace("_", " ") for c in TICKET_CATEGORIES]
_ADJ = ["strong", "solid", "steady", "uneven", "outstanding", "consistent"]
_WINS = [
    "shipped the new reporting tool", "closed the quarter on time", "trained new colleagues",
    "improved the onboarding checklist", "reduced response times", "renewed key accounts",
    "cut the build time in half", "organised the customer conference", "automated a manual process",
]  # fmt: skip
_IMPROVE = [
    "communicate blockers earlier", "delegate more", "document decisions", "plan more carefully",
    "share knowledge with the team", "keep stakeholders informed",
]  # fmt: skip

_SENTENCES = [
    "Employees request {leave} leave in the HR portal, and their manager approves it.",
    "Every full-time employee receives {n20} days of annual leave per year.",
    "Unused annual leave of up to {n5} days may be carried over to the next year.",
    "A medical certificate is required for sick leave of {n3} working days or more.",
    "Medical leave records are confidential and are shared with HR only.",
    "Parental leave lasts {n16} weeks for the primary caregiver.",
    "Bereavement leave gives employees time after the death of a close family member.",
    "Unpaid leave can be agreed with the department head for personal reasons.",
    "Payroll runs on the last working day of each month.",
    "Changes to bank details must reach payroll before the monthly cut-off.",
    "Salary adjustments follow the pay band of the job title and the review rating.",
    "Bonuses are paid once a year after calibration of the ratings.",
    "Overtime is paid at the hourly rate for hours approved by a manager.",
    "The {title} in the {dept} team {win} this half year.",
    "{A_title} reports to a manager in the same department.",
    "Department heads report to the chief executive officer.",
    "The {dept} department had a {adj} second half of the year.",
    "In the review, the manager noted that the employee {win}.",
    "The manager asked the employee to {improve} in the next period.",
    "Performance is rated from 1 to 5 in every review cycle.",
    "An employee rated 1 receives a performance improvement plan of {n90} days.",
    "Ratings are calibrated across teams by the department heads.",
    "HR tickets are triaged into categories such as {cat} and {cat2}.",
    "{A_cat} ticket is routed to the right HR specialist within one working day.",
    "Tickets about payroll go to the payroll specialist.",
    "Tickets about IT access are forwarded to the IT service desk.",
    "Complaints are handled confidentially and investigated by HR.",
    "Onboarding covers the laptop, the badge, the email account and the tax forms.",
    "Offboarding covers the final paycheck, the return of equipment and the removal of access.",
    "Relocation requests need the new home address and the moving date.",
    "Benefits include health insurance, a dental plan and a retirement plan.",
    "Open enrollment is the time to add a spouse or child to the health insurance.",
    "Employees may work remotely up to {n3} days a week.",
    "Expense claims must be submitted with receipts within {n30} days.",
    "Personal data in HR records is kept only as long as needed.",
    "A suspected data breach must be reported to the data protection officer immediately.",
    "Harassment and discrimination are never tolerated.",
    "The {dept} team opened {n12} new positions this year.",
    "The {title} role requires {n3} years of experience.",
    "The team covered the work while a colleague was on {leave} leave.",
    "Leave requests are approved by the line manager and recorded by HR.",
    "The payroll specialist checks overtime, bonuses and deductions before each pay run.",
    "Tax forms and bank details are collected during onboarding.",
    "{A_title} in the {dept} team is reviewed by their manager twice a year.",
    "The review describes what the employee {win} and where they should {improve}.",
    "A rating of {rating} means the employee {verdict}.",
    "{A_cat} ticket should describe the problem clearly and include the dates involved.",
    "When a ticket is about {cat}, HR answers within {n3} working days.",
    "The {dept} department is led by a department head who reports to the chief executive officer.",
    "Sick leave is paid for up to {n12} days a year.",
    "Employees on medical leave keep their job and their benefits.",
    "The salary band for {A_title} depends on seniority and on the department.",
    "A bonus target is a share of the yearly salary and depends on the rating.",
    "Managers hold a short check-in with each person every {n3} weeks.",
    "HR keeps the employee record up to date after a relocation.",
    "Access to the payroll system is removed on the last working day.",
    "New employees receive a laptop, a badge and an email account on their first day.",
    "Complaints about harassment are investigated within {n30} days.",
    "The {dept} team hired {n3} people in the last quarter.",
    "Expenses above the limit need approval from the department head.",
]

_PREFIXES = [
    "As a rule, ", "In most cases, ", "According to the policy, ", "In practice, ", "At this company, ",
    "Overall, ", "In short, ", "During the review cycle, ", "In the {dept} department, ",
]  # fmt: skip
_VERDICT = {1: "did not meet expectations", 2: "partly met expectations", 3: "met expectations", 4: "exceeded expectations", 5: "far exceeded expectations"}


def _a(phrase: str) -> str:
    """``a Senior Accountant`` / ``an HR Assistant`` / ``an onboarding``."""
    return ("an " if phrase[:1].lower() in "aeiou" or phrase.startswith("HR") else "a ") + phrase

_QA = [
    ("How do I request {leave} leave?", "Submit a leave request in the HR portal; your manager approves it."),
    ("How many days of annual leave do I get?", "Full-time employees receive {n20} days a year, plus public holidays."),
    ("When do I need a medical certificate?", "For sick leave of {n3} working days or more."),
    ("How do I request parental leave?", "Open a leave ticket at least 8 weeks before the expected start."),
    ("How do I change my bank details for payroll?", "Open a payroll ticket before the monthly cut-off."),
    ("Who approves expenses above the limit?", "Your department head approves them in advance."),
    ("How often are performance reviews held?", "Twice a year, for the first and second half."),
    ("What does a rating of 5 mean?", "The employee far exceeded expectations."),
    ("Where do I report harassment?", "Open a complaint ticket or use the anonymous channel; HR investigates confidentially."),
    ("My VPN account is locked. What should I do?", "Open an it access ticket and the service desk resets it."),
    ("How do I add my spouse to the health insurance?", "Open a benefits ticket during open enrollment."),
    ("What happens on my last day?", "HR runs offboarding: equipment, access and the final paycheck."),
    ("Which category fits a question about my payslip?", "Payroll."),
    ("Which category fits a new hire's laptop setup?", "Onboarding."),
    ("Which category fits a move to another city?", "Relocation."),
    ("Who does a {title} report to?", "To a manager in the {dept} department."),
    ("Can I carry over unused leave?", "Yes, up to {n5} days, to be taken by the end of March."),
    ("How many days a week can I work from home?", "Up to {n3} days, agreed with your manager."),
]


def _fill(template: str, rng: random.Random) -> str:
    cat, cat2 = rng.sample(_CATS, 2)
    title = rng.choice(_TITLES)
    rating = rng.randint(1, 5)
    return template.format(
        leave=rng.choice(LEAVE_TYPES),
        title=title,
        A_title=_a(title),
        A_cat=_a(cat),
        rating=rating,
        verdict=_VERDICT[rating],
        dept=rng.choice(_DEPTS),
        adj=rng.choice(_ADJ),
        win=rng.choice(_WINS),
        improve=rng.choice(_IMPROVE),
        cat=cat,
        cat2=cat2,
        n3=rng.randint(2, 5),
        n5=rng.randint(3, 10),
        n12=rng.randint(2, 15),
        n16=rng.randint(12, 24),
        n20=rng.randint(20, 30),
        n30=rng.choice((30, 45, 60)),
        n90=rng.choice((60, 90)),
    )


def generic_hr_corpus(seed: int, n_sentences: int = 2000) -> list[str]:
    """``n_sentences`` lines of generic HR prose (about one in four a Q/A line); reproducible."""
    rng = random.Random(f"privtune-corpus-{seed}")
    out: list[str] = []
    for _ in range(max(0, n_sentences)):
        if rng.random() < 0.25:
            q, a = rng.choice(_QA)
            line = _fill(f"Q: {q} A: {a}", rng)
        else:
            line = _fill(rng.choice(_SENTENCES), rng)
            if rng.random() < 0.35:
                if line[1:2].islower() or line.startswith("A "):  # keep "HR", titles, departments
                    line = line[0].lower() + line[1:]
                line = _fill(rng.choice(_PREFIXES), rng) + line
        out.append(line[0].upper() + line[1:])
    return out
