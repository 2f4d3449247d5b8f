// The worker thread that compiles MJML for mjmlCompiler.ts: mjml loads here,
// not in the broker's main thread.
import { parentPort } from 'node:worker_threads';
import mjml2html from 'mjml';

interface CompileRequest {
  id: number;
  source: string;
}

parentPort!.on('message', (request: CompileRequest) => {
  mjml2html(request.source, { validationLevel: 'strict' }).then(
    (result) => parentPort!.postMessage({ id: request.id, html: result.html, errors: result.errors.map((error) => error.formattedMessage) }),
    (error: unknown) => {
      // Strict validation throws, with the errors listed on the exception.
      const listed = (error as { errors?: Array<{ formattedMessage?: string; message?: string }> }).errors;
      if (Array.isArray(listed)) parentPort!.postMessage({ id: request.id, html: '', errors: listed.map((item) => item.formattedMessage ?? item.message ?? 'invalid mjml') });
      else parentPort!.postMessage({ id: request.id, failure: error instanceof Error ? error.message : String(error) });
    },
  );
});
