"""Reports for staff at /agent/reports/: volumes, deflection, first-response times, CSAT,
knowledge-base use and unanswered questions, as charts, tables and CSV."""
