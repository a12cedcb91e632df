"""The Swagger UI page at ``/docs``, from the ``swagger-ui-bundle`` package (no Internet needed),
with its start-up script in a file of its own so the Content Security Policy needs no inline script."""

from __future__ import annotations

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hunter API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" href="/docs/static/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-init.js"></script>
</body>
</html>
"""

# The packaged Swagger UI (4.x) refuses an "openapi: 3.1.0" document outright ("Unable to render this
# definition"), though it renders FastAPI's schema well: the page reads it as 3.0.3. /openapi.json is unchanged.
DOCS_INIT_JS = """fetch("/openapi.json", {credentials: "same-origin"}).then(r => r.json()).then(spec => {
  if (String(spec.openapi).startsWith("3.1")) spec.openapi = "3.0.3";
  window.ui = SwaggerUIBundle({
    spec: spec, dom_id: "#swagger-ui", layout: "BaseLayout", deepLinking: true,
    showExtensions: true, showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
"""
