"""The labels compose puts on each container it makes (no YAML here: the long-lived `dadc run`
reads them and must not load a YAML parser)."""
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
