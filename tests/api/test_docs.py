"""The OpenAPI schema and the docs page, which works offline (Swagger UI from the portal's own
/static) under the portal's Content-Security-Policy."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser

from chaincrm.portal.security import CONTENT_SECURITY_POLICY
from tests.api.conftest import ApiServer

ROUTES = {
    ("get", "/customers"),
    ("get", "/customers/{customer_id}"),
    ("get", "/customers/{customer_id}/timeline"),
    ("get", "/deals"),
    ("post", "/deals"),
    ("get", "/deals/{deal_id}"),
    ("post", "/deals/{deal_id}/stage"),
    ("post", "/deals/{deal_id}/lose"),
    ("post", "/deals/{deal_id}/reissue"),
    ("get", "/invoices"),
    ("get", "/invoices/{invoice_id}"),
    ("post", "/invoices/{invoice_id}/release"),
    ("post", "/invoices/{invoice_id}/refund"),
    ("post", "/invoices/{invoice_id}/cancel"),
    ("get", "/interactions"),
    ("post", "/interactions"),
    ("get", "/kpis"),
}


def test_the_openapi_schema_lists_every_route(api_server: ApiServer) -> None:
    schema = httpx.get(f"{api_server.url}/api/v1/openapi.json").json()

    listed = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert listed == ROUTES
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer ck_...` (chaincrm api-key create).",
    }
    deal_in = schema["components"]["schemas"]["DealIn"]
    assert deal_in["additionalProperties"] is False
    assert deal_in["properties"]["value_wei"]["type"] == "string"


def test_the_docs_page_names_only_this_origins_files(api_server: ApiServer) -> None:
    page = httpx.get(f"{api_server.url}/api/v1/docs")

    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources == [
        "/static/vendor/swagger/swagger-ui.css",
        "/static/favicon.svg",
        "/static/vendor/swagger/swagger-ui-bundle.js",
        "/static/api-docs.js",
    ]
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    for source in sources:
        assert httpx.get(api_server.url + source).status_code == 200, source


def test_the_docs_page_shows_the_operations_in_chromium_offline(api_server: ApiServer, browser: Browser) -> None:
    origin = api_server.url
    requested: list[str] = []
    problems: list[str] = []
    page = browser.new_page()
    try:
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{origin}/api/v1/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=15_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        title = page.locator(".info .title").inner_text()
    finally:
        page.close()

    assert "chaincrm REST API" in title
    assert {path.replace("\u200b", "") for path in paths} == {path for _, path in ROUTES}
    outside = [
        url for url in requested if urlsplit(url).netloc != urlsplit(origin).netloc and not url.startswith("data:")
    ]
    assert outside == []
    assert problems == []
