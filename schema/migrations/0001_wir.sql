-- WIR – Vielfalt und Teilhabe: the domain tables, schema version 1.
--
-- Rules for every replicated table (the engine checks them when it installs the schema):
--   * a single TEXT primary key named id (UUIDs, generated offline; slugs for reference data);
--   * centre-scoped tables carry centre_id, which never changes;
--   * constraints involve one column only: the merge is per column, so a rule across two
--     columns could be broken by two edits that are each valid;
--   * STRICT, so a value keeps its SQLite type everywhere.

-- Reference: the 33 WIR-Vielfaltszentren (one per Landkreis, kreisfreie Stadt, Sonderstatusstadt).
CREATE TABLE centres (
    id                TEXT PRIMARY KEY NOT NULL,   -- slug of the official name, e.g. landkreis-kassel
    name              TEXT NOT NULL,               -- official name, e.g. Landkreis Kassel
    kind              TEXT NOT NULL CHECK (kind IN ('Landkreis', 'kreisfreie Stadt', 'Sonderstatusstadt')),
    regierungsbezirk  TEXT NOT NULL CHECK (regierungsbezirk IN ('Darmstadt', 'Gießen', 'Kassel'))
) STRICT;

-- Reference: Förderlinien of the programme and their maximum funding share.
CREATE TABLE funding_lines (
    id               TEXT PRIMARY KEY NOT NULL,    -- slug, e.g. integrationslotsen
    name             TEXT NOT NULL,                -- German name
    name_en          TEXT NOT NULL,
    max_share        REAL NOT NULL CHECK (max_share > 0 AND max_share <= 1),  -- share of eligible costs
    max_amount_eur   INTEGER,                      -- a cap in euros, where the programme sets one
    basis            TEXT NOT NULL                 -- where the figures come from
) STRICT;

-- Vereine, Verbände, Migrantenorganisationen and other Träger a centre works with.
CREATE TABLE organisations (
    id             TEXT PRIMARY KEY NOT NULL,
    centre_id      TEXT NOT NULL REFERENCES centres(id),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('Verein', 'Verband', 'Migrantenorganisation', 'Kommune', 'Kirchlicher Träger', 'Bildungsträger')),
    city           TEXT,
    contact_email  TEXT,
    founded_year   INTEGER,
    logo           BLOB
) STRICT;

-- Projects funded (or to be funded) under a funding line.
CREATE TABLE projects (
    id                      TEXT PRIMARY KEY NOT NULL,
    centre_id               TEXT NOT NULL REFERENCES centres(id),
    funding_line_id         TEXT NOT NULL REFERENCES funding_lines(id),
    organisation_id         TEXT REFERENCES organisations(id),   -- Träger, if not the centre itself
    title                   TEXT NOT NULL,
    description             TEXT,
    status                  TEXT NOT NULL CHECK (status IN ('geplant', 'beantragt', 'bewilligt', 'laufend', 'abgeschlossen', 'abgelehnt')),
    start_date              TEXT,                  -- ISO 8601 date
    end_date                TEXT,
    budget_cents            INTEGER,               -- total eligible costs
    requested_cents         INTEGER,               -- funding requested from the Land
    approved_cents          INTEGER,               -- funding approved by HMSI
    participants            INTEGER
) STRICT;

-- Integrationslots*innen and Laiendolmetschende: personal data, stays in its centre's scope.
CREATE TABLE volunteers (
    id               TEXT PRIMARY KEY NOT NULL,
    centre_id        TEXT NOT NULL REFERENCES centres(id),
    role             TEXT NOT NULL CHECK (role IN ('Integrationslotse', 'Laiendolmetschende')),
    given_name       TEXT NOT NULL,
    family_name      TEXT NOT NULL,
    languages        TEXT NOT NULL,                -- comma-separated ISO 639-1 codes, e.g. 'de,ar,ku'
    qualification    TEXT NOT NULL CHECK (qualification IN ('keine', 'Basisqualifizierung', 'Vertiefungsseminar')),
    qualified_on     TEXT,                         -- ISO 8601 date of the last qualification
    phone            TEXT,
    email            TEXT,
    active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;

-- A volunteer's Einsatz: who, when, how long, in which language, in what setting.
CREATE TABLE deployments (
    id              TEXT PRIMARY KEY NOT NULL,
    centre_id       TEXT NOT NULL REFERENCES centres(id),
    volunteer_id    TEXT NOT NULL REFERENCES volunteers(id),
    project_id      TEXT REFERENCES projects(id),
    date            TEXT NOT NULL,                 -- ISO 8601 date
    hours           REAL NOT NULL CHECK (hours > 0),
    language        TEXT NOT NULL,                 -- ISO 639-1 code
    setting         TEXT NOT NULL,                 -- e.g. Behördenbegleitung, Elterngespräch
    note            TEXT
) STRICT;

-- Kommunale Vielfalts- und Integrationsstrategien (KIV) the centre accompanies.
CREATE TABLE kiv_strategies (
    id                TEXT PRIMARY KEY NOT NULL,
    centre_id         TEXT NOT NULL REFERENCES centres(id),
    kommune           TEXT NOT NULL,               -- lead municipality
    population        INTEGER,
    partner_kommunen  TEXT,                        -- Verbund partners, comma-separated
    start_date        TEXT,
    end_date          TEXT,                        -- at most 18 months after start (checked by HMSI, not by SQL)
    grant_eur         INTEGER,
    status            TEXT NOT NULL CHECK (status IN ('beantragt', 'bewilligt', 'laufend', 'beschlossen', 'abgebrochen'))
) STRICT;

CREATE INDEX organisations_centre ON organisations(centre_id);
CREATE INDEX projects_centre ON projects(centre_id);
CREATE INDEX volunteers_centre ON volunteers(centre_id);
CREATE INDEX deployments_centre ON deployments(centre_id);
CREATE INDEX deployments_volunteer ON deployments(volunteer_id);
CREATE INDEX kiv_strategies_centre ON kiv_strategies(centre_id);
