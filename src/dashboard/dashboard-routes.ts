/**
 * The web dashboard: three static files (src/dashboard/assets/, read once at
 * start-up) and uPlot for the charts (from node_modules) served by every
 * node on the HTTPS listener. They hold no data;
 * the page logs in with an operator token and calls the REST API, which
 * applies the role limits. Nothing is loaded from outside the node: the
 * Content-Security-Policy allows only this origin.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const DASHBOARD_CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'";

const asset = (name: string): string => readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
/** uPlot (the `uplot` npm package) is served by the node from its installed copy, never from a CDN. */
const vendored = (file: string): string => readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${file}`), 'utf8');

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const files = {
    html: asset('index.html'),
    js: asset('app.js'),
    css: asset('app.css'),
    uplotJs: vendored('uPlot.iife.min.js'),
    uplotCss: vendored('uPlot.min.css'),
  };
  const send = (reply: FastifyReply, type: string, body: string) => reply
    .header('content-type', type)
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .send(body);
  const schema = (summary: string) => ({ summary, tags: ['dashboard'] });
  app.get('/dashboard', { schema: schema('The web dashboard (redirects to /dashboard/)') }, async (_req, reply) => reply.redirect('/dashboard/', 302));
  app.get('/dashboard/', { schema: schema('The web dashboard page') }, async (_req, reply) => send(reply, 'text/html; charset=utf-8', files.html));
  app.get('/dashboard/app.js', { schema: schema('The web dashboard script') }, async (_req, reply) => send(reply, 'text/javascript; charset=utf-8', files.js));
  app.get('/dashboard/vendor/uPlot.iife.min.js', { schema: schema('uPlot, the chart library (from the uplot npm package)') }, async (_req, reply) => send(reply, 'text/javascript; charset=utf-8', files.uplotJs));
  app.get('/dashboard/vendor/uPlot.min.css', { schema: schema('uPlot\'s style sheet') }, async (_req, reply) => send(reply, 'text/css; charset=utf-8', files.uplotCss));
  app.get('/dashboard/app.css', { schema: schema('The web dashboard style sheet') }, async (_req, reply) => send(reply, 'text/css; charset=utf-8', files.css));
}
