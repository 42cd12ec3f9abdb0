import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateMoto, MOTO_ENV_VAR } from '../../lib/rehearsal/aws-emulated/moto';

describe('finding the AWS emulator (moto)', () => {
  const root = mkdtempSync(join(tmpdir(), 'rc-moto-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const executable = (path: string) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o755);
    return path;
  };
  const project = join(root, 'work', 'wt', 'feature');
  mkdirSync(project, { recursive: true });
  const shared = executable(join(root, 'work', 'shared', 'tools', 'moto', 'moto-server'));
  const pathBinary = executable(join(root, 'bin', 'moto_server'));

  test('GIVEN the shared copy two folders above a worktree and moto_server on the PATH THEN the shared copy wins (the PATH one lacks its fixes)', () => {
    expect(locateMoto(project, { PATH: join(root, 'bin') })).toMatchObject({ kind: 'script', path: shared });
  });

  test(`GIVEN ${MOTO_ENV_VAR} THEN it wins over everything; a path that does not exist is an error naming the variable`, () => {
    expect(locateMoto(project, { [MOTO_ENV_VAR]: pathBinary, PATH: '' })).toMatchObject({ kind: 'binary', path: pathBinary });
    expect(() => locateMoto(project, { [MOTO_ENV_VAR]: join(root, 'nope') })).toThrow(MOTO_ENV_VAR);
  });

  test('GIVEN no shared copy THEN moto_server on the PATH is the last resort, and nothing found is undefined', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'rc-moto-none-'));
    try {
      expect(locateMoto(elsewhere, { PATH: join(root, 'bin') })).toMatchObject({ kind: 'binary', path: pathBinary });
      expect(locateMoto(elsewhere, { PATH: join(root, 'empty') })).toBeUndefined();
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
