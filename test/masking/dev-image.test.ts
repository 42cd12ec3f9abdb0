import { readFileSync } from 'node:fs';

/**
 * The dev image and the buildspec cannot be run here (no Docker engine, no CodeBuild):
 * these tests hold the two files to each other and to the script's contract.
 */
const buildspec = readFileSync('aws/buildspec/mask-refresh.yml', 'utf8');
const dockerfile = readFileSync('aws/dev-image/Dockerfile', 'utf8');
const commands = buildspec.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('- ') || line.startsWith('npx ') || line.startsWith('docker '));

describe('masked refresh on CodeBuild', () => {
  test('the build runs the same script with the leak check, and restores staging only when asked', () => {
    expect(commands).toContain('- npx --no-install zx scripts/mask-refresh.mjs --env "$CUTOVER_ENV" --verify');
    const restore = buildspec.indexOf('--restore-staging');
    expect(buildspec.lastIndexOf('if [ "${RESTORE_STAGING:-false}" = "true" ]; then', restore)).toBeGreaterThan(-1);
  });

  test('the dev image is built only after a successful build phase, from the file the Dockerfile copies', () => {
    const postBuild = buildspec.slice(buildspec.indexOf('post_build:'));
    expect(postBuild.indexOf('test "$CODEBUILD_BUILD_SUCCEEDING" = "1" || exit 1')).toBeLessThan(postBuild.indexOf('docker build'));
    expect(postBuild).toContain('> aws/dev-image/masked-dump.sql');
    expect(dockerfile).toContain('COPY masked-dump.sql /tmp/masked-dump.sql');
  });

  test('images get a unique tag (the ECR repository is immutable) and no secret is in either file', () => {
    expect(buildspec).toMatch(/docker push "\$\{DEV_IMAGE_REPOSITORY_URL\}:\$\{TAG\}"/);
    expect(buildspec).not.toMatch(/:latest\b/);
    expect(buildspec + dockerfile).not.toMatch(/MASKING_HMAC_KEY=|PASSWORD=|hooks\.slack\.com/);
  });

  test('the data is loaded outside the VOLUME path of the official image, so the build keeps it', () => {
    expect(dockerfile).toMatch(/--datadir=\/var\/lib\/mysql-baked/);
    expect(dockerfile).toMatch(/COPY --from=load --chown=mysql:mysql \/var\/lib\/mysql-baked \/var\/lib\/mysql-baked/);
  });
});
