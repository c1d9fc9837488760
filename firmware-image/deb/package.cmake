# firmware-image/deb/package.cmake - the tern .deb, made by CPack's DEB generator from the same
# CMake build: cmake --build BUILD --target package (firmware-image/deb/build does the lot).
#
# Layout of the package (prefix /usr):
#   /usr/sbin/ternd, ternctl, ternmap           core/CMakeLists.txt
#   /usr/share/man/man{1,5,8}/*.gz               core/CMakeLists.txt (tern.conf.5 generated)
#   /etc/tern/main.cf, /etc/logrotate.d/tern     conffiles
#   /lib/systemd/system/tern.service
#   /usr/share/doc/tern/{copyright,changelog.gz}
# The queue (/var/lib/tern) and the log directory (/var/log/tern) are made by systemd
# (StateDirectory=, LogsDirectory=) and by postinst, not shipped.
set(TERN_DEB_DIR ${CMAKE_CURRENT_LIST_DIR})

install(FILES ${TERN_DEB_DIR}/main.cf DESTINATION /etc/tern PERMISSIONS OWNER_READ OWNER_WRITE
        GROUP_READ WORLD_READ)
install(FILES ${TERN_DEB_DIR}/logrotate RENAME tern DESTINATION /etc/logrotate.d)
install(FILES ${TERN_DEB_DIR}/tern.service DESTINATION /lib/systemd/system)
install(FILES ${TERN_DEB_DIR}/copyright DESTINATION share/doc/tern)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/deb/changelog.gz
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/deb
                   COMMAND sh -c "gzip -9n < '${TERN_DEB_DIR}/changelog' > '${CMAKE_BINARY_DIR}/deb/changelog.gz'"
                   DEPENDS ${TERN_DEB_DIR}/changelog VERBATIM)
add_custom_target(deb_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/deb/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/deb/changelog.gz DESTINATION share/doc/tern)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tern)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "tern maintainers <maintainers@users.noreply.r-seed-21306a2a.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "outbound SMTP relay with Postfix's main.cf")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "tern relays mail from internal applications and hosts to a smarthost, a\n\
per-domain next hop or the recipient domain's MX. Every message is on stable\n\
storage before it is acknowledged (LMDB with group commit); one multithreaded\n\
daemon built around io_uring, wolfSSL and libunbound. It reads Postfix's\n\
main.cf syntax and parameter names and logs in Postfix's maillog format.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # tern_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# procps: /bin/kill of ExecReload= (not in a minbase system)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate, dns-root-data") # the default dnssec_trust_anchor_file
set(CPACK_DEBIAN_PACKAGE_PROVIDES "")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${TERN_DEB_DIR}/conffiles ${TERN_DEB_DIR}/postinst
    ${TERN_DEB_DIR}/prerm ${TERN_DEB_DIR}/postrm)
include(CPack)
