"""The back office above every app: Customer 360, the dashboard, the scenario loader, org purge and
housekeeping. Its admin extends the apps' admin classes; nothing below imports it."""
