"""The only package that knows SQLModel/SQLAlchemy: tables, CRUD, migrations, audit chain."""
