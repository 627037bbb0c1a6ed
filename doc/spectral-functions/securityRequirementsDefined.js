// securityRequirementsDefined - spectral:oas's check of security
// requirements, as OpenAPI 3.1 has them: the scheme must be defined; an
// OAuth2 scheme's scopes must be among its flows' (as spectral:oas checks);
// any other scheme's entries are role names (OpenAPI 3.1, "Security
// Requirement Object"), which this document lists, each with what it
// allows, in the scheme's x-clientsd-scopes.  spectral:oas reads every
// entry as an OAuth2 scope and so refuses role names altogether.
"use strict";

function schemes(doc) {
  const c = doc && typeof doc === "object" ? doc.components : null;
  return c && typeof c === "object" && c.securitySchemes &&
    typeof c.securitySchemes === "object" ? c.securitySchemes : {};
}

function oauthScope(scheme, name) {
  const flows = scheme.flows && typeof scheme.flows === "object" ? scheme.flows : {};
  return Object.values(flows).some((f) => f && typeof f === "object" &&
    f.scopes && typeof f.scopes === "object" && name in f.scopes);
}

function role(scheme, name) {
  const roles = scheme["x-clientsd-scopes"];
  return roles !== null && typeof roles === "object" && name in roles;
}

export default function securityRequirementsDefined(input, options, context) {
  const results = [];
  if (input === null || typeof input !== "object") {
    return results;
  }
  const defined = schemes(context.document.data);
  for (const [name, entries] of Object.entries(input)) {
    const path = [...context.path, name];
    const scheme = defined[name];
    if (scheme === null || typeof scheme !== "object") {
      results.push({
        message: `"security" values must match a scheme defined in the "components.securitySchemes" object.`,
        path,
      });
      continue;
    }
    (Array.isArray(entries) ? entries : []).forEach((entry, i) => {
      if (scheme.type === "oauth2" ? !oauthScope(scheme, entry) : !role(scheme, entry)) {
        results.push({
          message: scheme.type === "oauth2" ? `"${entry}" must be listed among scopes.`
            : `"${entry}" must be listed among the role names of the scheme's x-clientsd-scopes.`,
          path: [...path, i],
        });
      }
    });
  }
  return results;
}
