-- Following a job without polling: its progress and timeline. (One process
-- owns the SQLite file: waiting requests are woken in-process, no trigger.)

-- When the upload began to arrive, in microseconds since the epoch.
ALTER TABLE jobs ADD COLUMN received_at INTEGER;
-- How far the running attempt got, written by its heartbeat (JSON).
ALTER TABLE jobs ADD COLUMN progress TEXT;
-- When each stage of the current attempt began: [{"stage", "at"}] (JSON).
ALTER TABLE jobs ADD COLUMN timeline TEXT NOT NULL DEFAULT '[]';
