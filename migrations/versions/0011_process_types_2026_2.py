"""policy 2026-2: new process types and issuing authorities; a case keeps its request's particulars

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00

case_file.process_type may now also be civil_subpoena, foreign_order, agreement_order, uk_ipa_communications_data,
uk_ipa_interception_warrant or voluntary_disclosure, and case_file.authority_kind attorney (civil process) or
provider (a disclosure we start ourselves): the two checks are widened. case_file.particulars (JSON, JSONB on
PostgreSQL; NULL for every case logged before) holds the request document's later keys: who validated the order,
who signed a national security letter, the offence, the voluntary basis and the executive agreement.

PostgreSQL alters the table in place. SQLite adds the column in place too, but cannot alter a CHECK constraint, and
rebuilding case_file (batch mode) would drop the old table while foreign keys are on, and so cascade-delete every
case's targets and categories. Widening a check changes nothing stored, so on SQLite the table's definition is
rewritten in the schema table instead, the simpler procedure SQLite documents for changing constraints
("Making Other Kinds Of Table Schema Changes"), with the schema version bumped and the database checked after.

Downgrade refuses while any case uses a value revision 0010 cannot store: cases are evidence, and there is nothing
faithful to turn them into. Particulars are dropped with their column.
"""
import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

PROCESSES_BEFORE = (
    'subpoena', 'court_order_2703d', 'search_warrant', 'wiretap_order', 'pen_trap_order', 'preservation_request',
    'emergency_request', 'national_security_letter', 'eu_production_order', 'eu_preservation_order',
    'other_court_order',
)
PROCESSES_ADDED = (
    'civil_subpoena', 'foreign_order', 'agreement_order', 'uk_ipa_communications_data',
    'uk_ipa_interception_warrant', 'voluntary_disclosure',
)
AUTHORITIES_BEFORE = ('judge', 'court', 'prosecutor', 'agency', 'police')
AUTHORITIES_ADDED = ('attorney', 'provider')


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _check_sql(column, values, name):
    return f"CONSTRAINT {name} CHECK ({_in(column, values)})"


def _sqlite_rewrite_checks(processes, authorities):
    bind = op.get_bind()
    select_sql = sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'case_file'")
    sql = bind.execute(select_sql).scalar_one()
    for column, values, name in (
        ('process_type', processes, 'ck_case_file_known_process'),
        ('authority_kind', authorities, 'ck_case_file_known_authority'),
    ):
        pattern = re.compile(rf"CONSTRAINT {name} CHECK \({column} IN \([^)]*\)\)")
        sql, count = pattern.subn(lambda _: _check_sql(column, values, name), sql)
        if count != 1:
            raise RuntimeError(f"case_file's definition has {count} constraint(s) named {name}, not one")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'case_file'"), {"sql": sql}
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))
    problems = bind.execute(sa.text("PRAGMA integrity_check")).scalars().all()
    if problems != ['ok']:
        raise RuntimeError(f"the database failed its integrity check after case_file's checks changed: {problems}")


def _checks(processes, authorities):
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_rewrite_checks(processes, authorities)
        return
    op.drop_constraint(op.f('ck_case_file_known_process'), 'case_file', type_='check')
    op.drop_constraint(op.f('ck_case_file_known_authority'), 'case_file', type_='check')
    op.create_check_constraint(op.f('ck_case_file_known_process'), 'case_file', _in('process_type', processes))
    op.create_check_constraint(op.f('ck_case_file_known_authority'), 'case_file', _in('authority_kind', authorities))


def upgrade():
    op.add_column(
        'case_file',
        sa.Column('particulars', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    )
    _checks(PROCESSES_BEFORE + PROCESSES_ADDED, AUTHORITIES_BEFORE + AUTHORITIES_ADDED)


def downgrade():
    bind = op.get_bind()
    held = bind.execute(
        sa.text(
            "SELECT count(*) FROM case_file WHERE process_type IN :processes OR authority_kind IN :authorities"
        ).bindparams(
            sa.bindparam('processes', expanding=True), sa.bindparam('authorities', expanding=True)
        ),
        {'processes': list(PROCESSES_ADDED), 'authorities': list(AUTHORITIES_ADDED)},
    ).scalar_one()
    if held:
        raise RuntimeError(
            f"case_file holds {held} case(s) of a process type or issuing authority that revision 0010 cannot "
            "store; cases are evidence, so the downgrade stops here"
        )
    _checks(PROCESSES_BEFORE, AUTHORITIES_BEFORE)
    op.drop_column('case_file', 'particulars')
