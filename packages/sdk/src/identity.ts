import { v5 as uuidv5 } from 'uuid'

/**
 * The uuid of `name` in `namespace`: RFC 4122 version 5, identical to Python's
 * `uuid.uuid5(UUID(namespace), name)`, so streams keep their identity when a
 * site moves from the original sMAP library.
 */
export function uuid5(namespace: string, name: string): string {
  return uuidv5(name, namespace)
}
