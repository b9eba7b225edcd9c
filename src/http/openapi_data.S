/* The shared parts of the OpenAPI document (schemas, parameters, error
 * responses, info, tags), embedded in the executable; see openapi.c. */
    .section .rodata
    .global gromo_openapi_json
    .global gromo_openapi_json_end
    .balign 16
gromo_openapi_json:
    .incbin "src/http/openapi.json"
gromo_openapi_json_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
