-- +goose Up
-- The instances sharing this store, each with the settings every instance
-- must agree on (tokens.algorithm, tokens.audience, public_url, …) as a
-- JSON object of field name to value, refreshed every 30 s and live until
-- expires_at; an instance logs each setting a live peer has another value
-- for (docs/deploy.md, "Instances must agree"). Never a secret: the HS256
-- secret and the encryption key are named by a digest.
CREATE TABLE peers (
    id         TEXT    PRIMARY KEY,
    host       TEXT    NOT NULL,
    listen     TEXT    NOT NULL,
    settings   TEXT    NOT NULL,
    seen_at    BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE peers;
