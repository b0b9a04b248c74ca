"""The baseline: a plain Flask-AppBuilder 5 app, stock ModelViews, on Sijill's tables.

    BENCH_DATABASE_URL=postgresql+psycopg2://… gunicorn bench.vanilla_app:app

FAB's own user and permission tables live in a sibling schema ``vanilla`` (the
search_path); the data tables are named ``public.…``, so the data tables (citizen, certificate, directorate) are
the very rows Sijill serves. Nothing is tuned: FAB's defaults, as a team would
start with them.
"""
import os

from flask import Flask
from flask_appbuilder import AppBuilder, ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.models.sqla.base import SQLA
from sqlalchemy import Column, Date, ForeignKey, Integer, String, text
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()  # not FAB's metadata: create_all never touches these tables
PUBLIC = {"schema": "public"}


class Directorate(Base):
    __tablename__ = "directorate"
    __table_args__ = PUBLIC
    id = Column(Integer, primary_key=True)
    code = Column(String(2))
    name_ar = Column(String(100))

    def __repr__(self):
        return self.name_ar


class Citizen(Base):
    __tablename__ = "citizen"
    __table_args__ = PUBLIC
    id = Column(Integer, primary_key=True)
    national_id = Column(String(14))
    full_name = Column(String(200))
    birth_date = Column(Date)
    gender = Column(String(1))
    directorate_id = Column(Integer, ForeignKey("public.directorate.id"))
    directorate = relationship(Directorate)

    def __repr__(self):
        return self.full_name


class Certificate(Base):
    __tablename__ = "certificate"
    __table_args__ = PUBLIC
    id = Column(Integer, primary_key=True)
    kind = Column(String(20))
    serial = Column(String(40))
    status = Column(String(20))
    issue_date = Column(Date)
    citizen_id = Column(Integer, ForeignKey("public.citizen.id"))
    citizen = relationship(Citizen)
    directorate_id = Column(Integer, ForeignKey("public.directorate.id"))
    directorate = relationship(Directorate)


class CertificateView(ModelView):
    datamodel = SQLAInterface(Certificate)
    list_columns = ["serial", "kind", "status", "issue_date", "citizen"]
    add_columns = ["kind", "citizen", "directorate", "issue_date"]


class CitizenView(ModelView):
    datamodel = SQLAInterface(Citizen)
    list_columns = ["national_id", "full_name", "birth_date", "gender", "directorate"]
    search_columns = ["national_id", "full_name", "gender"]
    show_columns = ["national_id", "full_name", "birth_date", "gender", "directorate"]
    related_views = [CertificateView]


app = Flask(__name__)
app.config.update(
    SECRET_KEY="bench-only",
    SQLALCHEMY_DATABASE_URI=os.environ["BENCH_DATABASE_URL"],
    SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"options": "-csearch_path=vanilla"}},
    CSRF_ENABLED=True,
)
db = SQLA(app)
with app.app_context():
    # gunicorn's workers start together: the first creates FAB's tables while
    # the others wait on this lock (else they race on CREATE SEQUENCE).
    lock = db.engine.connect()
    lock.execute(text("SELECT pg_advisory_lock(8091)"))
    with db.engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS vanilla"))
    appbuilder = AppBuilder(app, db.session)
    appbuilder.add_view(CitizenView, "Citizens")
    appbuilder.add_view(CertificateView, "Certificates")
    sm = appbuilder.sm
    if not sm.find_user(username="admin"):
        sm.add_user("admin", "Bench", "Admin", "admin@bench.local", sm.find_role("Admin"), password="Bench@2026")
    db.session.commit()
    lock.execute(text("SELECT pg_advisory_unlock(8091)"))
    lock.close()
