-- WIR – Vielfalt und Teilhabe, schema version 2: additive only, so replicas of version 1 keep
-- syncing beside it (docs/schema-evolution.md).

-- The funding reference number (Förderkennzeichen) HMSI gives an approved project.
ALTER TABLE projects ADD COLUMN foerderkennzeichen TEXT;

-- MitSprache – Deutsch4U: the German courses (Deutschkurse) a centre runs or brokers.
CREATE TABLE courses (
    id               TEXT PRIMARY KEY NOT NULL,
    centre_id        TEXT NOT NULL REFERENCES centres(id),
    organisation_id  TEXT REFERENCES organisations(id),   -- the provider (Träger) running the course
    title            TEXT NOT NULL,
    level            TEXT NOT NULL CHECK (level IN ('A1', 'A2', 'B1')),
    start_date       TEXT,                                 -- ISO 8601 date
    end_date         TEXT,
    hours            INTEGER CHECK (hours > 0),            -- Unterrichtseinheiten in total
    participants     INTEGER CHECK (participants >= 0),    -- Teilnehmende
    women_only       INTEGER NOT NULL DEFAULT 0 CHECK (women_only IN (0, 1))  -- a course for women only
) STRICT;

CREATE INDEX courses_centre ON courses(centre_id);
