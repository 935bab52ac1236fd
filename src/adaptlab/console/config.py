"""What `adaptlab ui` can be told: one typed config, the CLI flags are a view of it."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: Path = Field(default=Path("registry"), description="registry folder the console shows (its tokens sign people in)")
    db: str | None = Field(default=None, description="registry database URL (default: SQLite inside --registry)")
    blobs: str | None = Field(default=None, description="registry blob store URL (default: <registry>/blobs)")
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (0: any free port)")
    session_ttl_s: float = Field(default=8 * 3600, gt=0, description="seconds a sign-in lasts; then the token is asked for again")
    max_sessions: int = Field(default=10_000, ge=1, description="sessions kept at once; the oldest are signed out beyond it")
    audit_page_size: int = Field(default=50, ge=1, le=500, description="audit log entries per page")
