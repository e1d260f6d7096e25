"""The legal-validity review: policy versions, the reviewer's checklist and grounds, decisions and letters."""
