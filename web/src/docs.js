// Swagger UI on this server's /openapi.json. Nothing is fetched from
// elsewhere: the validator badge (validator.swagger.io) is off. A key the
// dashboard signed in with (sessionStorage, same origin) is offered to
// "Try it out"; the Authorize button takes another.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  validatorUrl: null,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
  onComplete: () => {
    let key = null;
    try { key = sessionStorage.getItem('gromo.key'); } catch (e) { key = null; }
    if (key) window.ui.preauthorizeApiKey('ApiKey', key);
  },
});
