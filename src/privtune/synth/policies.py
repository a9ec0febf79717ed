"""HR policy documents (markdown) of the synthetic company, with seed-derived numbers.

Eight policies, each a ``#`` title and several ``##`` sections with concrete figures (days of
leave, weeks of parental leave, expense limits). They hold no personal data: no names, no
contact details, no personal dates; the only proper noun is the company name.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyValues:
    """The company-specific figures every policy document draws on."""

    annual_days: int
    carry_over: int
    notice_days: int
    sick_days: int
    sick_note_after: int
    medical_weeks: int
    parental_weeks: int
    secondary_weeks: int
    remote_days: int
    core_start: int
    core_end: int
    home_office: int
    hotel_limit: int
    meal_limit: int
    mileage_cents: int
    approval_over: int
    claim_days: int
    gift_limit: int
    retention_years: int
    breach_hours: int
    review_cycles: int
    pip_days: int
    bereavement_days: int


def policy_values(rng: random.Random) -> PolicyValues:
    return PolicyValues(
        annual_days=rng.choice((20, 22, 24, 25, 26, 28, 30)),
        carry_over=rng.choice((3, 5, 5, 10)),
        notice_days=rng.choice((7, 10, 14)),
        sick_days=rng.choice((8, 10, 12, 15)),
        sick_note_after=3,
        medical_weeks=rng.choice((12, 16, 26)),
        parental_weeks=rng.choice((12, 14, 16, 18, 20, 24)),
        secondary_weeks=rng.choice((4, 6, 8)),
        remote_days=rng.choice((2, 3, 3, 4)),
        core_start=rng.choice((9, 10)),
        core_end=rng.choice((15, 16)),
        home_office=rng.choice((300, 500, 750)),
        hotel_limit=rng.choice((180, 200, 250)),
        meal_limit=rng.choice((50, 60, 75)),
        mileage_cents=rng.choice((65, 67, 70)),
        approval_over=rng.choice((500, 1000, 2500)),
        claim_days=rng.choice((30, 45, 60)),
        gift_limit=rng.choice((50, 75, 100)),
        retention_years=rng.choice((3, 5, 7)),
        breach_hours=72,
        review_cycles=2,
        pip_days=rng.choice((60, 90)),
        bereavement_days=rng.choice((3, 5)),
    )


def _doc(title: str, sections: list[tuple[str, str]]) -> str:
    parts = [f"# {title}", ""]
    for head, body in sections:
        parts += [f"## {head}", "", body.strip(), ""]
    return "\n".join(parts)


def make_policies(company: str, v: PolicyValues) -> dict[str, str]:
    """File name (``annual-leave.md``...) -> markdown text."""
    return {
        "annual-leave.md": _doc(f"{company} Annual Leave Policy", [
            ("Entitlement", f"Every full-time employee receives {v.annual_days} days of annual leave per calendar year, on top of public holidays. Part-time employees receive a pro-rated entitlement."),
            ("Requesting leave", f"Submit a leave request in the HR portal at least {v.notice_days} days before the first day of leave. Your manager approves or declines within 3 working days."),
            ("Carry-over", f"Up to {v.carry_over} unused days may be carried over to the next year and must be taken by the end of March. Remaining days expire."),
            ("Leaving the company", "Accrued but untaken annual leave is paid out with the final paycheck."),
        ]),
        "sick-and-medical-leave.md": _doc(f"{company} Sick and Medical Leave Policy", [
            ("Sick days", f"Employees have {v.sick_days} paid sick days per year. Tell your manager before the start of your working day."),
            ("Medical certificate", f"For an absence of {v.sick_note_after} working days or more, a medical certificate from a doctor is required and is sent to HR only, never to your manager."),
            ("Extended medical leave", f"For a serious health condition, employees may take up to {v.medical_weeks} weeks of medical leave with job protection. Medical leave records are confidential."),
            ("Return to work", "After medical leave of more than two weeks, HR schedules a return-to-work meeting to agree any adjustments."),
            ("Bereavement", f"Employees may take {v.bereavement_days} days of paid bereavement leave after the death of a close family member."),
        ]),
        "parental-leave.md": _doc(f"{company} Parental Leave Policy", [
            ("Primary caregivers", f"The primary caregiver of a new child receives {v.parental_weeks} weeks of fully paid parental leave."),
            ("Secondary caregivers", f"The secondary caregiver receives {v.secondary_weeks} weeks of fully paid parental leave, to be taken within the first year."),
            ("How to request", "Notify HR through a leave ticket at least 8 weeks before the expected start. Adoption and foster placement are treated the same as birth."),
            ("Returning", "Employees may return part-time for the first 4 weeks after parental leave at full pay."),
        ]),
        "remote-work.md": _doc(f"{company} Remote Work Policy", [
            ("Eligibility", f"Employees whose role allows it may work remotely up to {v.remote_days} days a week, agreed with their manager."),
            ("Core hours", f"Everyone is reachable between {v.core_start}:00 and {v.core_end}:00 local time on working days."),
            ("Equipment", f"The company provides a laptop and a one-time home office allowance of ${v.home_office}."),
            ("Security", "Use the VPN for every connection to internal systems and never work on personal data in public places."),
        ]),
        "expenses.md": _doc(f"{company} Travel and Expenses Policy", [
            ("Principles", "Spend company money as if it were your own. Book the cheapest reasonable option."),
            ("Limits", f"Hotels up to ${v.hotel_limit} per night, meals up to ${v.meal_limit} per day, and mileage at {v.mileage_cents} cents per mile."),
            ("Approval", f"Any single expense over ${v.approval_over} needs prior approval from your department head."),
            ("Claims", f"Submit receipts in the expense tool within {v.claim_days} days. Finance reimburses approved claims with the next payroll run."),
        ]),
        "code-of-conduct.md": _doc(f"{company} Code of Conduct", [
            ("Respect", "We treat colleagues, customers and partners with respect. Harassment and discrimination are never tolerated."),
            ("Conflicts of interest", f"Declare any conflict of interest to HR. Gifts above ${v.gift_limit} in value must be declined or reported."),
            ("Reporting concerns", "Raise concerns with your manager, HR, or the anonymous complaint channel. Retaliation against anyone who reports in good faith is a disciplinary offence."),
            ("Investigations", "HR investigates every complaint confidentially and aims to conclude within 30 days."),
        ]),
        "data-protection.md": _doc(f"{company} Data Protection Policy", [
            ("Scope", "This policy covers all personal data about employees, candidates and customers, including HR records, payroll and medical information."),
            ("Principles", "Collect only the data you need, use it only for its stated purpose, and keep it accurate."),
            ("Retention", f"HR records are kept for {v.retention_years} years after employment ends and then deleted."),
            ("Breaches", f"Report a suspected data breach to the data protection officer immediately; the company notifies regulators within {v.breach_hours} hours where required."),
            ("Access requests", "Employees may request a copy of their personal data through an HR ticket; HR answers within 30 days."),
        ]),
        "performance-reviews.md": _doc(f"{company} Performance Review Policy", [
            ("Cycle", f"Performance reviews take place {v.review_cycles} times a year, for the first half (H1) and second half (H2)."),
            ("Ratings", "Managers rate performance on a scale from 1 (did not meet expectations) to 5 (far exceeded expectations), with written feedback."),
            ("Calibration", "Department heads calibrate ratings across teams before results are shared."),
            ("Improvement plans", f"An employee rated 1 receives a performance improvement plan of {v.pip_days} days with clear goals and regular check-ins."),
            ("Pay", "Salary adjustments and bonuses follow the rating and the pay band of the job title."),
        ]),
    }  # fmt: skip
