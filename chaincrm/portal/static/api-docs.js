// Starts Swagger UI on the REST API's docs page (/api/v1/docs). A file, not an inline script: the
// portal's Content-Security-Policy allows scripts from its own origin only.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the default asks validator.swagger.io: this page makes no outside request
    tryItOutEnabled: false,
  });
})();
